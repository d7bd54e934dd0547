import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable, Transform, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { RollbackError, messageOf } from "../errors";
import { DumpFacts, DumpScanner, Section } from "./dump-scanner";

/** gzip by its magic bytes, not its name: a renamed file is still read right. */
async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** The SQL text of a dump file, decompressed when it is gzip; errors (corrupt gzip) end the stream. */
async function sqlStream(path: string, tap?: Transform): Promise<Readable> {
  const gzip = await isGzip(path);
  const stages: NodeJS.ReadWriteStream[] = [];
  if (tap) stages.push(tap);
  if (gzip) stages.push(createGunzip());
  if (stages.length === 0) return createReadStream(path);
  return pipeline([createReadStream(path), ...stages], () => undefined) as unknown as Readable;
}

export type ScanResult = { facts: DumpFacts; error: null } | { facts: DumpFacts; error: string };

/**
 * Reads a dump file (plain or gzip) through the scanner. `emit` receives the sections (the
 * splitter); `afterChunk` is awaited between chunks (its backpressure). A corrupt or cut gzip
 * stream is an `error`, not a throw: verify reports it as a reason.
 */
export async function scanFile(path: string, emit?: (s: Section, b: Buffer) => void, afterChunk?: () => Promise<void>): Promise<ScanResult> {
  const scanner = new DumpScanner(emit);
  try {
    for await (const chunk of await sqlStream(path)) {
      scanner.push(chunk as Buffer);
      if (afterChunk) await afterChunk();
    }
  } catch (e) {
    return { facts: scanner.end(), error: gzipMessage(e) };
  }
  return { facts: scanner.end(), error: null };
}

function gzipMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (code.startsWith("Z_")) return `gzip stream is corrupt (${messageOf(e)})`;
  if (messageOf(e) === "unexpected end of file") return "gzip stream is cut short (unexpected end of file)";
  return messageOf(e);
}

const TRAILER = Buffer.from("\n-- Dump completed");

/**
 * A backup file as SQL for the client, checked while it streams: the raw bytes must hash to
 * `sha256` and the text must end with the "-- Dump completed" trailer. Either failure errors
 * the stream at its end, so a file changed since it was verified never counts as loaded.
 * `onBytes` reports raw bytes read (progress).
 */
export async function checkedSql(path: string, subject: string, sha256: string, onBytes?: (n: number) => void): Promise<Readable> {
  const hash = createHash("sha256");
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });
  let tail = Buffer.alloc(0);
  const trailerCheck = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tail = Buffer.concat([tail, chunk.subarray(-256)]).subarray(-256);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = hash.digest("hex");
      if (actual !== sha256) {
        cb(new RollbackError("BACKUP_FILE_CHANGED", subject, `sha256 is ${actual.slice(0, 12)}…, the manifest says ${sha256.slice(0, 12)}…: the file changed after it was verified`));
        return;
      }
      const text = tail.toString("latin1").trimEnd();
      const lastLine = text.slice(text.lastIndexOf("\n"));
      cb(lastLine.startsWith(TRAILER.toString()) ? null : new RollbackError("BACKUP_INCOMPLETE", subject, "does not end with the '-- Dump completed' trailer"));
    },
  });
  const sql = await sqlStream(path, tap);
  return pipeline(sql, trailerCheck, () => undefined) as unknown as Readable;
}
