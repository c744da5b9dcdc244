/**
 * The ocisync command line. All the work is in `src/cli/`.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
