/**
 * `ocisync sign REF --key FILE [-a K=V]...`: signs an image's digest the classic cosign way, a
 * simple-signing payload appended as a layer to the `sha256-<hex>.sig` manifest, which the one
 * writer pushes (the blobs first, the manifest last).
 *
 * @module
 */
import { exposureWarning, statOrUndefined } from "../../fs/stat.ts";
import { readNamedText } from "../../fs/read.ts";
import type { ParsedArgs } from "../args.ts";
import { openSession } from "../registry_flags.ts";
import type { Output } from "../output.ts";
import { NotFoundError, OcisyncError, UsageError } from "../../errors/mod.ts";
import { bytesBlob } from "../../image/blob.ts";
import { writePlan } from "../../push/write.ts";
import { formatReference, parseReference, registryOf } from "../../ref/mod.ts";
import { resolveReference } from "../../target/mod.ts";
import { type ClassicSignaturePlan, signClassic } from "../../trust/cosign.ts";
import type { Target } from "../../oci/target.ts";
import { sleep } from "../../remote/transport.ts";
import { parsePrivateKey } from "../../trust/keys.ts";
import { parseKeyValues } from "../../units/mod.ts";
export { signSpec } from "../specs.ts";

/** Runs `sign`. */
export async function sign(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const reference = parseReference(args.positionals[0]);
  if (reference.kind === "archive" && reference.format === "docker") {
    throw new UsageError(
      `${args.positionals[0]}: a docker-archive holds one image, not its signature`,
      {
        hint: "sign the image where it is kept: a registry, an oci: layout or an oci-archive:",
      },
    );
  }
  if (options["tlog-upload"] === true) {
    throw new UsageError("ocisync sign writes no transparency-log (Rekor) entry", {
      hint: "give --tlog-upload=false, as with cosign for a private registry; verify with " +
        "--insecure-ignore-tlog",
    });
  }
  const path = options.key as string | undefined;
  if (path === undefined) {
    throw new UsageError("sign needs --key FILE", {
      hint: "a PEM private key; `cosign generate-key-pair` writes cosign.key",
    });
  }
  const annotations = parseKeyValues(
    options.annotations as string[] | undefined,
    "--annotations",
  );
  let pem: string;
  try {
    pem = await readNamedText(path, "the key file");
  } catch (error) {
    if (error instanceof OcisyncError) throw error;
    if (error instanceof Deno.errors.NotFound) throw new NotFoundError(`no such key file: ${path}`);
    throw new OcisyncError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  // Before any request: a wrong COSIGN_PASSWORD fails at once.
  const key = await parsePrivateKey(pem, { name: path });
  // Said, not refused: cosign writes keys encrypted and 0600, but a CI secret may be neither.
  const exposed = await exposureWarning(path);
  if (exposed) out.warn(exposed);
  if (!key.encrypted) {
    out.warn(
      `${path} holds the private key unencrypted; cosign keeps it encrypted (COSIGN_PASSWORD)`,
    );
  }
  await using session = await openSession(options, out, registryOf(reference));
  // An archive is written anew when the session closes: opened to write, it holds the archive's
  // lock from its reading on, as a copy's destination does. A missing one is reported as such.
  const create = reference.kind === "archive" &&
    statOrUndefined(reference.path) !== undefined;
  const target = await session.open(reference, { create });
  // Resolved once: the digest is what is signed, whatever the tag points at later.
  const image = await resolveReference(target, reference);
  if (reference.digest === undefined) {
    // As cosign warns: whoever serves the tag said which image it is, and that gets signed.
    out.warn(
      `${args.positionals[0]} names a tag: signing ${image.digest}, which ${target.name} says ` +
        `it is; sign ${formatReference({ ...reference, tag: undefined, digest: image.digest })} ` +
        "to be sure of what you sign",
    );
  }
  const sign = () =>
    signClassic(target, image, key, {
      annotations: Object.keys(annotations).length > 0 ? annotations : undefined,
      identity: options["sign-container-identity"] as string | undefined,
    });
  const first = await sign();
  const plan = first.appended ? await writeSignature(target, first, sign) : first;
  const name = formatReference({ ...reference, tag: undefined, digest: undefined });
  const manifest = plan.manifest.descriptor.digest;
  out.result({
    human: [
      `${first.appended ? "signed" : "already signed with this key:"} ${name}@${image.digest}`,
      `  ${plan.tag} -> ${manifest} (key ${key.publicKey.fingerprint})`,
    ].join("\n"),
    json: {
      reference: formatReference(reference),
      digest: image.digest,
      tag: plan.tag,
      signatureManifest: manifest,
      signature: plan.signature,
      keyFingerprint: key.publicKey.fingerprint,
      payloadDigest: plan.payload.descriptor.digest,
      appended: first.appended,
    },
    quiet: manifest,
  });
}

/** How often a signature that another signer's write dropped is added again. */
const MAX_SIGN_ATTEMPTS = 10;

/**
 * Writes `plan`, waits, then reads the tag back (`sign`, which finds a signature of this key
 * there) until it holds this signature; returns the plan that found it. A registry keeps the
 * last manifest put to a tag and cannot lock it: another signer of the same image who read the
 * tag before this write and writes after it drops this signature. The wait before reading back
 * is twice what this signer's own read and write took (a random share more, so that signers
 * started together drift apart): a signer whose read came before this write has written by
 * then, unless it is much slower than this one.
 *
 * @throws {OcisyncError} when the signature was dropped {@linkcode MAX_SIGN_ATTEMPTS} times.
 */
async function writeSignature(
  target: Target,
  plan: ClassicSignaturePlan,
  sign: () => Promise<ClassicSignaturePlan>,
): Promise<ClassicSignaturePlan> {
  let started = performance.now() - PLAN_TIME_MS;
  for (let attempt = 1; plan.appended; attempt++) {
    if (attempt > MAX_SIGN_ATTEMPTS) {
      throw new OcisyncError(
        `${plan.tag} in ${target.name}: other signers replaced it ${MAX_SIGN_ATTEMPTS} times ` +
          "after this signature was added, without it",
        { hint: "sign again once the other signers are done" },
      );
    }
    await writePlan(target, {
      manifest: plan.manifest,
      config: plan.config,
      blobs: plan.blobs.map(bytesBlob),
    }, [plan.tag]);
    const cycle = performance.now() - started;
    await sleep(cycle * (2 + Math.random()));
    started = performance.now();
    plan = await sign();
  }
  return plan;
}

/** What the first read of the tag took, at least, before {@linkcode writeSignature} starts. */
const PLAN_TIME_MS = 50;
