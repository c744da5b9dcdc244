import assert from "node:assert/strict";
import {
  AuthError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
  UnsafeContentError,
  UsageError,
} from "./mod.ts";
import { receivedError, sendableError } from "./sent.ts";

const roundTrip = (error: unknown) => receivedError(structuredClone(sendableError(error)));

Deno.test("an ocisync error crosses threads as its kind's class, with its hint and option", () => {
  for (
    const Class of [
      OcisyncError,
      UsageError,
      AuthError,
      NotFoundError,
      IntegrityError,
      NetworkError,
      UnsafeContentError,
    ]
  ) {
    const error = roundTrip(new Class("refused", { hint: "try again", option: "maxEntries" }));
    assert.ok(error instanceof Class, `${Class.name} came back as ${error.constructor.name}`);
    assert.equal((error as OcisyncError).kind, new Class("x").kind);
    assert.equal(error.message, "refused");
    assert.equal((error as OcisyncError).hint, "try again");
    assert.equal((error as OcisyncError).option, "maxEntries");
  }
});

Deno.test("an OS error crosses as its Deno.errors class with its code; anything else as an Error", () => {
  const notFound = Object.assign(new Deno.errors.NotFound("gone"), { code: "ENOENT" });
  const back = roundTrip(notFound);
  assert.ok(back instanceof Deno.errors.NotFound);
  assert.equal((back as { code?: string }).code, "ENOENT");
  const odd = roundTrip(new RangeError("out"));
  assert.equal(odd.name, "RangeError");
  assert.equal(odd.message, "out");
  assert.equal(roundTrip("a string").message, "a string");
});
