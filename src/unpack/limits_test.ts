import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { constants, gzipSync, zstdCompressSync } from "node:zlib";
import { UnsafeContentError } from "../errors/mod.ts";
import { checkDeclaredSizes, compressedLimit } from "./limits.ts";

const MiB = 1024 * 1024;

Deno.test("compressedLimit: incompressible data, compressed by zlib's gzip and zstd, fits", () => {
  const plain = randomBytes(4 * MiB);
  const compressed = [
    gzipSync(plain, { level: 9 }),
    zstdCompressSync(plain, { params: { [constants.ZSTD_c_compressionLevel]: 3 } }),
  ];
  for (const bytes of compressed) assert.ok(bytes.length <= compressedLimit(plain.length));
});

Deno.test("checkDeclaredSizes: the layers' declared sizes add up, and the one that goes over is named", () => {
  const layer = (n: number, size: number) => ({ digest: `sha256:${String(n).repeat(64)}`, size });
  const limit = compressedLimit(10 * MiB);
  checkDeclaredSizes([layer(1, limit)], 10 * MiB);
  const counted = { bytes: 0 };
  assert.throws(
    () => checkDeclaredSizes([layer(1, limit - 1), layer(2, 2)], 10 * MiB, counted),
    (error: Error) =>
      error instanceof UnsafeContentError &&
      error.message.startsWith(`layer sha256:${"2".repeat(64)} declares 2 bytes (${limit + 1} `),
  );
  assert.equal(counted.bytes, limit + 1);
});
