/**
 * Reading and discarding response bodies, for the layers and for their callers.
 *
 * @example
 * ```ts
 * import { discardBody, readBody } from "./body.ts";
 * import type { HttpResponse } from "./fetch.ts";
 * async function text(response: HttpResponse): Promise<string> {
 *   if (response.status !== 200) {
 *     await discardBody(response);
 *     return "";
 *   }
 *   return new TextDecoder().decode(await readBody(response, 65536));
 * }
 * ```
 * @module
 */
import { IntegrityError } from "../../errors/mod.ts";
import { readBounded } from "../../streams/mod.ts";
import type { HttpResponse } from "./fetch.ts";
import { requestLine } from "./redact.ts";

/**
 * Reads a whole body, refusing more than `limit` bytes.
 *
 * @throws {IntegrityError} when the body is larger than `limit`.
 * @throws {NetworkError} when the connection fails or stalls.
 * @example
 * ```ts
 * import { readBody } from "./body.ts";
 * import type { HttpResponse } from "./fetch.ts";
 * async function json(response: HttpResponse): Promise<unknown> {
 *   return JSON.parse(new TextDecoder().decode(await readBody(response, 1 << 20)));
 * }
 * ```
 */
export async function readBody(
  response: HttpResponse,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new IntegrityError(
      `${requestLine(response.method, response.url)}: response is larger than ${limit} bytes`,
    );
  if (Number(response.headers.get("content-length")) > limit) {
    await discardBody(response);
    throw tooLarge();
  }
  // Past the limit, the stream is cancelled.
  const bytes = await readBounded(response.body ?? [], limit);
  if (bytes === undefined) throw tooLarge();
  return bytes;
}

/**
 * Cancels a body that is not needed, which frees the connection.
 *
 * @example
 * ```ts
 * import { discardBody } from "./body.ts";
 * import type { HttpResponse } from "./fetch.ts";
 * async function statusOf(response: HttpResponse): Promise<number> {
 *   await discardBody(response);
 *   return response.status;
 * }
 * ```
 */
export async function discardBody(response: HttpResponse): Promise<void> {
  await response.body?.cancel().catch(() => {});
}
