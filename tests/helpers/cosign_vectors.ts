/**
 * Signature test vectors made outside ocisync: keys, signatures and cosign-encrypted key files
 * from Python's `cryptography` and PyNaCl; signature manifests and payloads written by hand from
 * cosign's specification (specs/SIGNATURE_SPEC.md); keyless bundles from `@sigstore/mock`'s
 * offline Fulcio, Rekor and TSA. A test then checks ocisync against these, never against its own
 * signer.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import nodeCrypto from "node:crypto";
// A test-only dependency, pinned here rather than in the import map.
// deno-lint-ignore no-import-prefix
import * as mock from "npm:@sigstore/mock@0.13.0";
import type { Descriptor, Target } from "../../mod.ts";
import { sha256Digest, sha256Hex } from "./hash.ts";
import { withTempDir } from "./tree.ts";
import { SignatureError } from "../../src/trust/mod.ts";
import { LayoutTarget } from "../../src/layout/mod.ts";

// Debian's python3 has python3-cryptography and python3-nacl; a pyenv `python3` earlier on PATH
// may have neither, so the first interpreter that imports both is used.
const PYTHONS = ["/usr/bin/python3", "python3"];
let python: string | undefined;

function pythonWithCrypto(): string {
  if (python) return python;
  for (const candidate of PYTHONS) {
    try {
      const ok = new Deno.Command(candidate, {
        args: ["-c", "import cryptography, nacl"],
        stdout: "null",
        stderr: "null",
      }).outputSync().success;
      if (ok) return python = candidate;
    } catch {
      // Not installed: try the next one.
    }
  }
  throw new Error(
    "python3 with cryptography and PyNaCl is missing: run " +
      "`apt-get install -y python3-cryptography python3-nacl` (or bash scripts/install-test-deps.sh)",
  );
}

const SCRIPT = `
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.exceptions import InvalidSignature
import nacl.secret

req = json.load(sys.stdin)
b64 = lambda b: base64.b64encode(b).decode()
out = {}
if req["op"] == "keys":
    curve = ec.SECP384R1() if req.get("curve") == "P-384" else ec.SECP256R1()
    k = ec.generate_private_key(curve)
    pkcs8 = k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    out["pkcs8"] = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()
    out["sec1"] = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption()).decode()
    out["public"] = k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode()
    out["spkiHex"] = k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo).hex()
    # cosign's encrypted key: go-securesystemslib's JSON, scrypt (N=2^16, r=8, p=1, 32-byte key)
    # and NaCl secretbox over the PKCS#8 DER; the PEM body is that JSON.
    salt, nonce = os.urandom(32), os.urandom(24)
    key = Scrypt(salt=salt, length=32, n=65536, r=8, p=1).derive(req.get("password", "").encode())
    sealed = nacl.secret.SecretBox(key).encrypt(pkcs8, nonce).ciphertext
    doc = json.dumps({"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": b64(salt)},
                      "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)}, "ciphertext": b64(sealed)},
                     separators=(",", ":")).encode()
    body = b64(doc)
    label = req.get("label", "ENCRYPTED SIGSTORE PRIVATE KEY")
    out["encrypted"] = "-----BEGIN %s-----\\n%s\\n-----END %s-----\\n" % (
        label, "\\n".join(body[i:i + 64] for i in range(0, len(body), 64)), label)
elif req["op"] == "sign":
    k = s.load_pem_private_key(req["key"].encode(), None)
    out["signature"] = b64(k.sign(base64.b64decode(req["data"]), ec.ECDSA(hashes.SHA256())))
elif req["op"] == "verify":
    k = s.load_pem_public_key(req["key"].encode())
    try:
        k.verify(base64.b64decode(req["signature"]), base64.b64decode(req["data"]), ec.ECDSA(hashes.SHA256()))
        out["valid"] = True
    except InvalidSignature:
        out["valid"] = False
json.dump(out, sys.stdout)
`;

async function runPython(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const child = new Deno.Command(pythonWithCrypto(), {
    args: ["-c", SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(request)));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) throw new Error(`python failed: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** A key pair made by Python's `cryptography`, in every PEM form cosign users have. */
export interface PythonKeys {
  /** PKCS#8 `PRIVATE KEY`. */
  pkcs8: string;
  /** SEC1 `EC PRIVATE KEY`. */
  sec1: string;
  /** cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` (or the given label), with the given password. */
  encrypted: string;
  /** SPKI `PUBLIC KEY`. */
  public: string;
  /** The DER SPKI, hex. */
  spkiHex: string;
}

/** A new P-256 (or P-384) key pair from Python, the encrypted form under `password`. */
export async function pythonKeys(
  options: { password?: string; label?: string; curve?: "P-256" | "P-384" } = {},
): Promise<PythonKeys> {
  return await runPython({ op: "keys", ...options }) as unknown as PythonKeys;
}

/** A DER ECDSA-SHA256 signature, base64, made by Python with a PEM private key. */
export async function pythonSign(privatePem: string, data: Uint8Array): Promise<string> {
  return (await runPython({ op: "sign", key: privatePem, data: b64(data) })).signature as string;
}

/** Whether Python verifies a base64 DER signature over `data` with a PEM public key. */
export async function pythonVerify(
  publicPem: string,
  data: Uint8Array,
  signature: string,
): Promise<boolean> {
  return (await runPython({ op: "verify", key: publicPem, data: b64(data), signature }))
    .valid as boolean;
}

/** Standard base64. */
export function b64(bytes: Uint8Array | string): string {
  return Buffer.from(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes)
    .toString("base64");
}

/**
 * A simple-signing payload typed out by hand from cosign's specification (and sigstore's
 * `payload.go` field order), not built by ocisync.
 */
export function handPayload(digest: string, reference: string, optional = "null"): Uint8Array {
  return new TextEncoder().encode(
    `{"critical":{"identity":{"docker-reference":"${reference}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":${optional}}`,
  );
}

/** Bytes and their descriptor, computed here. */
export function described(bytes: Uint8Array | string, mediaType: string): {
  bytes: Uint8Array;
  descriptor: Descriptor;
} {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return {
    bytes: data,
    descriptor: {
      mediaType,
      digest: sha256Digest(data) as Descriptor["digest"],
      size: data.byteLength,
    },
  };
}

/** Pushes bytes to a target as a blob. */
export async function pushBytes(
  target: Target,
  bytes: Uint8Array,
  mediaType: string,
): Promise<Descriptor> {
  const blob = described(bytes, mediaType);
  await target.pushBlob(blob.descriptor, ReadableStream.from([blob.bytes]));
  return blob.descriptor;
}

/**
 * Pushes an OCI image manifest of `fields` (its config and layers, and an `artifactType` or
 * `subject` where given, in that order after `schemaVersion` and `mediaType`) under `tags`.
 */
export async function pushOciManifest(
  target: Target,
  fields: Record<string, unknown>,
  tags: string[],
): Promise<{ bytes: Uint8Array; descriptor: Descriptor }> {
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = described(JSON.stringify({ schemaVersion: 2, mediaType, ...fields }), mediaType);
  await target.pushManifest(manifest.descriptor, manifest.bytes, tags);
  return manifest;
}

/**
 * Runs `body` with a new layout (`DIR/layout`, in a folder named `prefix`…) and the public key
 * `publicPem` written beside it as `DIR/cosign.pub`; the folder is removed afterwards.
 */
export async function withKeyAndLayout(
  prefix: string,
  publicPem: string,
  body: (layout: LayoutTarget, dir: string, pub: string) => Promise<void>,
): Promise<void> {
  await withTempDir(prefix, async (tmp) => {
    await Deno.writeTextFile(`${tmp}/cosign.pub`, publicPem);
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await body(layout, `${tmp}/layout`, `${tmp}/cosign.pub`);
  });
}

/** A small image pushed by hand: a config, one layer, a manifest tagged `tag`. */
export async function pushTestImage(
  target: Target,
  tag: string,
  content = tag,
): Promise<{ bytes: Uint8Array; descriptor: Descriptor }> {
  const layer = await pushBytes(
    target,
    new TextEncoder().encode(`layer ${content}`),
    "application/vnd.oci.image.layer.v1.tar",
  );
  const config = await pushBytes(
    target,
    new TextEncoder().encode(
      `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${layer.digest}"]}}`,
    ),
    "application/vnd.oci.image.config.v1+json",
  );
  return await pushOciManifest(target, { config, layers: [layer] }, [tag]);
}

/** An index of two hand-made images (see {@linkcode pushTestImage}), linux/amd64 and linux/arm64, tagged `multi`. */
export async function pushTwoPlatforms(
  target: Target,
): Promise<{ index: Descriptor; amd64: Descriptor; arm64: Descriptor }> {
  const amd64 = (await pushTestImage(target, "amd64")).descriptor;
  const arm64 = (await pushTestImage(target, "arm64")).descriptor;
  const entry = ({ mediaType, digest, size }: Descriptor, architecture: string) => ({
    mediaType,
    digest,
    size,
    platform: { os: "linux", architecture },
  });
  const mediaType = "application/vnd.oci.image.index.v1+json";
  const index = described(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: [entry(amd64, "amd64"), entry(arm64, "arm64")],
    }),
    mediaType,
  );
  await target.pushManifest(index.descriptor, index.bytes, ["multi"]);
  return { index: index.descriptor, amd64, arm64 };
}

/** One layer of a hand-made `.sig` manifest: a payload and its base64 signature annotation. */
export interface HandSignature {
  payload: Uint8Array;
  signature: string;
}

/**
 * Pushes a `.sig` manifest written by hand from cosign's specification: the payloads as layers
 * (`application/vnd.dev.cosign.simplesigning.v1+json`, annotation
 * `dev.cosignproject.cosign/signature`) and a config, tagged `sha256-<hex>.sig`.
 */
export async function pushHandSignatures(
  target: Target,
  imageDigest: string,
  signatures: HandSignature[],
): Promise<void> {
  const layers = [];
  for (const { payload, signature } of signatures) {
    const descriptor = await pushBytes(
      target,
      payload,
      "application/vnd.dev.cosign.simplesigning.v1+json",
    );
    layers.push({
      ...descriptor,
      annotations: { "dev.cosignproject.cosign/signature": signature },
    });
  }
  const config = await pushBytes(
    target,
    new TextEncoder().encode(
      JSON.stringify({
        architecture: "",
        created: "0001-01-01T00:00:00Z",
        history: layers.map(() => ({ created: "0001-01-01T00:00:00Z" })),
        os: "",
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
        config: {},
      }),
    ),
    "application/vnd.oci.image.config.v1+json",
  );
  await pushOciManifest(target, { config, layers }, [
    `sha256-${imageDigest.slice("sha256:".length)}.sig`,
  ]);
}

/** The in-toto statement cosign signs into a bundle for an image (predicate cosign/sign/v1). */
export function cosignStatement(imageDigest: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ digest: { sha256: imageDigest.slice("sha256:".length) } }],
    predicateType: "https://sigstore.dev/cosign/sign/v1",
    predicate: {},
  }));
}

/** DSSE's pre-authentication encoding, written here from the DSSE protocol. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = `DSSEv1 ${
    new TextEncoder().encode(payloadType).length
  } ${payloadType} ${payload.length} `;
  return new Uint8Array([...new TextEncoder().encode(head), ...payload]);
}

/**
 * A keyed v0.3 bundle (DSSE, in-toto statement about `imageDigest`, public-key hint) whose
 * signature Python makes with `privatePem`.
 */
export async function keyedDsseBundle(
  privatePem: string,
  imageDigest: string,
  statement = cosignStatement(imageDigest),
): Promise<Uint8Array> {
  const payloadType = "application/vnd.in-toto+json";
  const signature = await pythonSign(privatePem, pae(payloadType, statement));
  return new TextEncoder().encode(JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint: "" }, tlogEntries: [] },
    dsseEnvelope: {
      payload: b64(statement),
      payloadType,
      signatures: [{ sig: signature, keyid: "" }],
    },
  }));
}

/** A keyed message-signature bundle over the manifest bytes, signed by Python. */
export async function keyedMessageBundle(
  privatePem: string,
  manifest: Uint8Array,
): Promise<Uint8Array> {
  const signature = await pythonSign(privatePem, manifest);
  return new TextEncoder().encode(JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint: "" }, tlogEntries: [] },
    messageSignature: {
      messageDigest: {
        algorithm: "SHA2_256",
        digest: b64(Buffer.from(sha256Hex(manifest), "hex")),
      },
      signature,
    },
  }));
}

/** An offline Sigstore: @sigstore/mock's Fulcio (with a CT log), Rekor and TSA, and their root. */
export interface MockSigstore {
  /** `trusted_root.json` for this instance. */
  trustedRoot: Record<string, unknown>;
  /**
   * A keyless DSSE bundle for an in-toto statement: a Fulcio certificate for `identity` from
   * `issuer` (issued at `certTime`, valid 10 minutes), a Rekor `dsse` entry with inclusion proof
   * and SET (integrated at `logTime`), and optionally an RFC 3161 timestamp instead of the entry.
   */
  sign(statement: Uint8Array, options?: KeylessSignOptions): Promise<Record<string, unknown>>;
}

/** Options of {@linkcode MockSigstore.sign}. */
export interface KeylessSignOptions {
  identity?: string;
  issuer?: string;
  /** When Fulcio issues the certificate; default now. */
  certTime?: Date;
  /** Use an RFC 3161 timestamp and no Rekor entry. */
  timestampOnly?: boolean;
}

/** Starts an offline Sigstore whose keys and trust anchors are new, valid from `since`. */
/**
 * A timestamp time whose milliseconds do not end in 0. DER drops the trailing zeros of a
 * GeneralizedTime's fraction (`.12Z` for 120 ms), and @sigstore/core 4.0.1 parses only three
 * digits or none, so one timestamp in ten would be refused as malformed (a fault of that
 * library, noted for the team; this keeps the tests about our verification).
 */
function stampTime(now: number): number {
  return now % 10 === 0 ? now + 1 : now;
}

export async function mockSigstore(since = new Date(Date.now() - 24 * 3600_000)): Promise<
  MockSigstore
> {
  const newKeys = () => nodeCrypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const caKeys = newKeys(), ctKeys = newKeys(), tlogKeys = newKeys(), tsaKeys = newKeys();
  const ctlog = await mock.initializeCTLog(ctKeys);
  const tlog = await mock.initializeTLog("https://rekor.sigstore.dev", tlogKeys);
  // The TSA's clock is set before each timestamp (see `stampTime`).
  const tsaClock = new Date();
  const tsa = await mock.initializeTSA(tsaKeys, tsaClock);
  const spki = (k: nodeCrypto.KeyObject) => k.export({ format: "der", type: "spki" });
  const logId = (k: nodeCrypto.KeyObject) =>
    nodeCrypto.createHash("sha256").update(spki(k)).digest("base64");
  const start = since.toISOString();
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [{
      baseUrl: "https://rekor.sigstore.dev",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: spki(tlogKeys.publicKey).toString("base64"),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: { start },
      },
      logId: { keyId: logId(tlogKeys.publicKey) },
    }],
    certificateAuthorities: [] as unknown[],
    ctlogs: [{
      baseUrl: "https://ctfe.sigstore.dev",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: spki(ctKeys.publicKey).toString("base64"),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: { start },
      },
      logId: { keyId: logId(ctKeys.publicKey) },
    }],
    timestampAuthorities: [{
      subject: { organization: "sigstore.mock", commonName: "tsa" },
      certChain: {
        certificates: [
          { rawBytes: Buffer.from(tsa.intCertificate.buffer).toString("base64") },
          { rawBytes: Buffer.from(tsa.rootCertificate.buffer).toString("base64") },
        ],
      },
      validFor: { start },
    }],
  };
  // One CA per certificate time, all sharing the CA key, so a clock can be set per bundle; the
  // root certificate is trusted for each.
  const cas = new Map<number, Awaited<ReturnType<typeof mock.initializeCA>>>();
  const caAt = async (time: Date | undefined) => {
    const key = time?.getTime() ?? 0;
    if (!cas.has(key)) {
      const ca = await mock.initializeCA(caKeys, ctlog, time);
      cas.set(key, ca);
      trustedRoot.certificateAuthorities.push({
        subject: { organization: "sigstore.mock", commonName: "sigstore" },
        uri: "https://fulcio.sigstore.dev",
        certChain: {
          certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer).toString("base64") }],
        },
        validFor: { start },
      });
    }
    return cas.get(key)!;
  };
  await caAt(undefined);
  return {
    trustedRoot,
    async sign(statement, options = {}) {
      const ca = await caAt(options.certTime);
      const signer = newKeys();
      const pem = signer.publicKey.export({ format: "pem", type: "spki" }).toString();
      const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const token = `${part({ alg: "none" })}.${
        part({
          sub: options.identity ?? "dev@example.com",
          iss: options.issuer ?? "https://accounts.example.com",
        })
      }.`;
      const issued = await mock.fulcioHandler(ca).fn(JSON.stringify({
        credentials: { oidcIdentityToken: token },
        publicKeyRequest: { publicKey: { content: pem } },
      }));
      if (issued.statusCode !== 201) throw new Error(`mock Fulcio: ${issued.response}`);
      const chain: string[] = JSON.parse(issued.response as string)
        .signedCertificateEmbeddedSct.chain.certificates;
      const leafPem = chain[0];
      const leaf = Buffer.from(
        leafPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s/g, ""),
        "base64",
      );
      const payloadType = "application/vnd.in-toto+json";
      const signature = nodeCrypto.sign("sha256", pae(payloadType, statement), signer.privateKey);
      const envelope = {
        payload: b64(statement),
        payloadType,
        signatures: [{ sig: signature.toString("base64"), keyid: "" }],
      };
      const material: Record<string, unknown> = {
        certificate: { rawBytes: leaf.toString("base64") },
        tlogEntries: [],
      };
      if (options.timestampOnly) {
        tsaClock.setTime(stampTime(Date.now()));
        const stamped = await mock.tsaHandler(tsa).fn(JSON.stringify({
          artifactHash: nodeCrypto.createHash("sha256").update(signature).digest("base64"),
          hashAlgorithm: "sha256",
          certificates: true,
        }));
        if (stamped.statusCode !== 201) throw new Error(`mock TSA: ${stamped.response}`);
        material.timestampVerificationData = {
          rfc3161Timestamps: [{
            signedTimestamp: Buffer.from(
              (stamped.response as unknown as Uint8Array).buffer,
            ).toString("base64"),
          }],
        };
      } else {
        // The body Rekor stores for a `dsse` 0.0.1 entry (not the proposed one: the mock logs
        // whatever it is given, canonicalised).
        const body = {
          apiVersion: "0.0.1",
          kind: "dsse",
          spec: {
            envelopeHash: { algorithm: "sha256", value: sha256Hex(JSON.stringify(envelope)) },
            payloadHash: { algorithm: "sha256", value: sha256Hex(statement) },
            signatures: [{ signature: signature.toString("base64"), verifier: b64(leafPem) }],
          },
        };
        const logged = await mock.rekorHandler(tlog).fn(JSON.stringify(body));
        if (logged.statusCode !== 201) throw new Error(`mock Rekor: ${logged.response}`);
        // deno-lint-ignore no-explicit-any
        const entry = Object.values(JSON.parse(logged.response as string))[0] as any;
        const proof = entry.verification.inclusionProof;
        material.tlogEntries = [{
          logIndex: String(entry.logIndex),
          logId: { keyId: Buffer.from(entry.logID, "hex").toString("base64") },
          kindVersion: { kind: "dsse", version: "0.0.1" },
          integratedTime: String(entry.integratedTime),
          inclusionPromise: { signedEntryTimestamp: entry.verification.signedEntryTimestamp },
          inclusionProof: {
            logIndex: String(proof.logIndex),
            rootHash: Buffer.from(proof.rootHash, "hex").toString("base64"),
            treeSize: String(proof.treeSize),
            hashes: proof.hashes,
            checkpoint: { envelope: proof.checkpoint },
          },
          canonicalizedBody: entry.body,
        }];
      }
      return {
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        verificationMaterial: material,
        dsseEnvelope: envelope,
      };
    },
  };
}

/** One layer of {@linkcode pushLayersImage}: its bytes, media type and optional title. */
export interface HandLayer {
  content: string | Uint8Array;
  mediaType: string;
  title?: string;
}

/**
 * An artifact written by hand: the empty config and the given layers (titled when a title is
 * given), tagged `tag`. Returns the manifest's bytes and descriptor.
 */
export async function pushLayersImage(
  target: Target,
  tag: string,
  layers: HandLayer[],
  artifactType = "application/vnd.example.files",
): Promise<{ bytes: Uint8Array; descriptor: Descriptor; layers: Descriptor[] }> {
  const empty = await pushBytes(
    target,
    new TextEncoder().encode("{}"),
    "application/vnd.oci.empty.v1+json",
  );
  const pushed: Descriptor[] = [];
  for (const layer of layers) {
    const bytes = typeof layer.content === "string"
      ? new TextEncoder().encode(layer.content)
      : layer.content;
    const descriptor = await pushBytes(target, bytes, layer.mediaType);
    pushed.push(
      layer.title === undefined
        ? descriptor
        : { ...descriptor, annotations: { "org.opencontainers.image.title": layer.title } },
    );
  }
  const manifest = await pushOciManifest(
    target,
    { artifactType, config: empty, layers: pushed },
    [tag],
  );
  return { ...manifest, layers: pushed };
}

/**
 * Signs `imageDigest` the classic way, by hand: a payload typed from cosign's specification,
 * signed by Python with `privatePem`, pushed as the `sha256-<hex>.sig` manifest.
 */
export async function pushPythonSignature(
  target: Target,
  imageDigest: string,
  privatePem: string,
  dockerReference: string,
): Promise<void> {
  const payload = handPayload(imageDigest, dockerReference);
  await pushHandSignatures(target, imageDigest, [
    { payload, signature: await pythonSign(privatePem, payload) },
  ]);
}

/**
 * Attaches a bundle to `image` as cosign does with `--new-bundle-format`, written by hand: the
 * empty config, one bundle layer, `subject` the image. With `fallbackTag`, it is also listed in
 * the `sha256-<hex>` index of the distribution-spec's referrers tag schema, for registries
 * without the referrers API (Distribution 2.8). With `layers`, the manifest names the bundle's
 * blob that many times, as no cosign writes it. Returns the referrer's descriptor.
 */
export async function pushBundleReferrer(
  target: Target,
  image: Descriptor,
  bundle: Uint8Array,
  options: { fallbackTag?: boolean; layers?: number } = {},
): Promise<Descriptor> {
  const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
  const empty = await pushBytes(
    target,
    new TextEncoder().encode("{}"),
    "application/vnd.oci.empty.v1+json",
  );
  const layer = await pushBytes(target, bundle, bundleType);
  const manifest = await pushOciManifest(target, {
    artifactType: bundleType,
    config: empty,
    layers: Array(options.layers ?? 1).fill(layer),
    subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
  }, []);
  const referrer = { ...manifest.descriptor, artifactType: bundleType };
  if (options.fallbackTag) {
    const index = described(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [referrer],
      }),
      "application/vnd.oci.image.index.v1+json",
    );
    await target.pushManifest(index.descriptor, index.bytes, [image.digest.replace(":", "-")]);
  }
  return referrer;
}

/**
 * The `SignatureError` that `promise` rejects with; anything else, or no rejection, fails.
 *
 * @example
 * ```ts
 * import { refusal } from "./cosign_vectors.ts";
 * declare const verifying: Promise<unknown>;
 * const error = await refusal(verifying);
 * console.log(error.reason);
 * ```
 */
export async function refusal(promise: Promise<unknown>): Promise<SignatureError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SignatureError) return error;
    throw error;
  }
  throw new Error("expected a SignatureError");
}
