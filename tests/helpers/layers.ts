/**
 * Hostile and unusual layers built by hand: tars written by Python's `tarfile` (never by
 * ocisync), laid out as OCI images with digests from `node:crypto`.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { runOk } from "./cli.ts";
import { sha256Digest } from "./hash.ts";

/**
 * One tar entry, as the Python script below writes it; `pax`, records of its PAX header that
 * override its fields (a `path` with a NUL byte, which the ustar name field cannot hold).
 */
export type Entry =
  & (
    | { type: "file"; name: string; data?: string; mode?: number }
    | { type: "dir"; name: string; mode?: number }
    | { type: "symlink" | "hardlink"; name: string; link: string }
    | { type: "chr" | "blk" | "fifo"; name: string }
    /** A file of `size` zero bytes, for decompression bombs. */
    | { type: "zeros"; name: string; size: number }
  )
  & { pax?: Record<string, string> };

const TAR_SCRIPT = `
import io, json, sys, tarfile
spec = json.load(sys.stdin)
types = {"file": tarfile.REGTYPE, "zeros": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
         "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
         "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
class Zeros(io.RawIOBase):
    def readinto(self, buffer):
        buffer[:] = bytes(len(buffer))
        return len(buffer)
with tarfile.open(spec["path"], "w", format=tarfile.PAX_FORMAT) as tar:
    for entry in spec["entries"]:
        info = tarfile.TarInfo(entry["name"])
        info.type = types[entry["type"]]
        info.mode = entry.get("mode", 0o755 if entry["type"] == "dir" else 0o644)
        info.linkname = entry.get("link", "")
        info.devmajor, info.devminor = (1, 3) if entry["type"] in ("chr", "blk") else (0, 0)
        info.pax_headers = entry.get("pax", {})
        body = None
        if entry["type"] == "file":
            data = entry.get("data", "").encode()
            info.size, body = len(data), io.BytesIO(data)
        elif entry["type"] == "zeros":
            info.size, body = entry["size"], Zeros()
        tar.addfile(info, body)
`;

/** Writes a tar of `entries` to `path` with Python's tarfile and returns its bytes. */
export async function pythonTar(path: string, entries: Entry[]): Promise<Uint8Array> {
  await runOk("python3", ["-c", TAR_SCRIPT], { stdin: JSON.stringify({ path, entries }) });
  return await Deno.readFile(path);
}

/**
 * Writes the `oci-layout` and `index.json` of a layout built by hand at `dir`, whose one entry is
 * `descriptor` (a manifest or an index already in `blobs/`), tagged v1.
 */
export async function writeLayoutIndex(dir: string, descriptor: object): Promise<void> {
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...descriptor, annotations: { "org.opencontainers.image.ref.name": "v1" } }],
    }),
  );
}

/** A layer as it goes into a layout: its blob, its media type and its tar's digest. */
export interface LayerBlob {
  bytes: Uint8Array;
  mediaType: string;
  /** The sha256 digest of the uncompressed tar. */
  diffId: string;
  annotations?: Record<string, string>;
}

/**
 * An OCI layout at `dir` holding one image, tagged v1, whose layers are these tars (gzipped
 * when asked, each with its `annotations`), with a config that lists their diff_ids.
 */
export async function writeImage(
  dir: string,
  tars: Uint8Array[],
  gzip = false,
  annotations: (Record<string, string> | undefined)[] = [],
): Promise<void> {
  await writeImageOfLayers(
    dir,
    tars.map((tar, i) => ({
      bytes: gzip ? gzipSync(tar) : tar,
      mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? "+gzip" : ""}`,
      diffId: sha256Digest(tar),
      annotations: annotations[i],
    })),
  );
}

/**
 * An OCI layout at `dir` holding one image, tagged v1, of these layers, with a config that
 * lists their diff_ids.
 */
export async function writeImageOfLayers(dir: string, layers: LayerBlob[]): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array, mediaType: string, annotations?: object) => {
    const digest = sha256Digest(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { mediaType, digest, size: bytes.byteLength, ...(annotations ? { annotations } : {}) };
  };
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const descriptors = [];
  for (const layer of layers) {
    descriptors.push(await put(layer.bytes, layer.mediaType, layer.annotations));
  }
  const config = await put(
    json({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    }),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = await put(
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers: descriptors,
    }),
    "application/vnd.oci.image.manifest.v1+json",
  );
  await writeLayoutIndex(dir, manifest);
}

/**
 * Lays out an image of these layers (one tar each, made by {@linkcode pythonTar}) at
 * `tmp/layout`, tagged v1, and returns its reference.
 */
export async function tarImage(tmp: string, layers: Entry[][]): Promise<string> {
  const tars = [];
  for (const [i, entries] of layers.entries()) {
    tars.push(await pythonTar(`${tmp}/layer${i}.tar`, entries));
    await Deno.remove(`${tmp}/layer${i}.tar`);
  }
  await writeImage(`${tmp}/layout`, tars);
  return `oci:${tmp}/layout:v1`;
}

/**
 * Writes to `path`, with Python's tarfile, a tar whose one entry, `name`, comes after a chain of
 * `count` extended (PAX) headers of about 1 MB each, each with a key of its own (`comment0`…):
 * tarfile writes each PAX header before its entry, so the headers of `count` entries without the
 * entries make the chain.
 */
export async function chainedPaxTar(path: string, count: number, name: string): Promise<void> {
  const script = `
import sys, tarfile
def entry(name, pax):
    info = tarfile.TarInfo(name)
    info.pax_headers = pax
    return info.tobuf(format=tarfile.PAX_FORMAT)
out = bytearray()
for i in range(int(sys.argv[2])):
    out += entry("x", {"comment%d" % i: "y" * 1000000})[:-512]
out += entry(sys.argv[3], {}) + b"\\0" * 1024
open(sys.argv[1], "wb").write(out)
`;
  await runOk("python3", ["-c", script, path, String(count), name]);
}

/**
 * A gzipped layer, written by Python's tarfile (PAX) at `path`, of `count` entries in one folder
 * at the end of a chain of `depth` folders with names of 250 characters (a path near the 4 KB of
 * `PATH_MAX`): empty files, or empty folders of mode 0555 (whose mode waits for the end of an
 * unpack). The tar itself is never held: a few MB of gzip stand for hundreds of MB of it.
 */
export async function deepTreeLayer(
  path: string,
  options: { count: number; depth: number; kind: "file" | "dir" },
): Promise<LayerBlob> {
  const script = `
import gzip, hashlib, sys, tarfile
path, count, depth, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
class Hashed:
    """Writes through to a gzip file, hashing the tar on the way."""
    def __init__(self, out):
        self.out, self.hash, self.offset = out, hashlib.sha256(), 0
    def write(self, data):
        self.hash.update(data)
        self.offset += len(data)
        return self.out.write(data)
    def tell(self):
        return self.offset
with gzip.open(path, "wb", compresslevel=1) as out:
    hashed = Hashed(out)
    with tarfile.open(fileobj=hashed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = ""
        for i in range(depth):
            folder += "d%d%s/" % (i, "x" * 245)
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i in range(count):
            info = tarfile.TarInfo(folder + "e%07d" % i)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o555
            tar.addfile(info)
print("sha256:" + hashed.hash.hexdigest())
`;
  const diffId = (await runOk("python3", [
    "-c",
    script,
    path,
    String(options.count),
    String(options.depth),
    options.kind,
  ])).trim();
  return {
    bytes: await Deno.readFile(path),
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    diffId,
  };
}
