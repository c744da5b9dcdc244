import assert from "node:assert/strict";
import {
  AuthError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
  registryError,
  UnsafeContentError,
  UsageError,
} from "../errors/mod.ts";
import { KeyError, SignatureError } from "../trust/errors.ts";
import { ExitCode, exitCodeOf } from "./exit.ts";

Deno.test("exitCodeOf: every kind of error has its documented code", () => {
  const cases: [unknown, number][] = [
    [new Error("x"), ExitCode.Other],
    ["a string", ExitCode.Other],
    [new OcisyncError("x"), ExitCode.Other],
    [new UsageError("x"), ExitCode.Usage],
    [new KeyError("x"), ExitCode.Usage],
    [new AuthError("x"), ExitCode.Auth],
    [new NotFoundError("x"), ExitCode.NotFound],
    [new IntegrityError("x"), ExitCode.Integrity],
    [new SignatureError("x", { reason: "no-signature" }), ExitCode.Verification],
    [new NetworkError("x"), ExitCode.Network],
    [new UnsafeContentError("x"), ExitCode.UnsafeContent],
  ];
  for (const [error, code] of cases) assert.equal(exitCodeOf(error), code, String(error));
});

Deno.test("exitCodeOf: a registry error's code is that of its status and codes", () => {
  const of = (status: number, codes: string[] = []) =>
    exitCodeOf(registryError("x", { status, codes, messages: [], method: "GET", url: "u" }));
  assert.equal(of(401), ExitCode.Auth);
  assert.equal(of(403, ["DENIED"]), ExitCode.Auth);
  assert.equal(of(404), ExitCode.NotFound);
  assert.equal(of(400, ["NAME_UNKNOWN"]), ExitCode.NotFound);
  assert.equal(of(400, ["MANIFEST_BLOB_UNKNOWN"]), ExitCode.NotFound);
  assert.equal(of(400, ["DIGEST_INVALID"]), ExitCode.Integrity);
  assert.equal(of(400, ["SIZE_INVALID"]), ExitCode.Integrity);
  for (const status of [408, 429, 500, 503]) assert.equal(of(status), ExitCode.Network);
  assert.equal(of(400, ["UNSUPPORTED"]), ExitCode.Other);
  assert.equal(of(405), ExitCode.Other);
});

Deno.test("ExitCode: the README's table", () => {
  assert.deepEqual(ExitCode, {
    Ok: 0,
    Other: 1,
    Usage: 2,
    Auth: 3,
    NotFound: 4,
    Integrity: 5,
    Network: 6,
    UnsafeContent: 7,
    Verification: 8,
  });
});
