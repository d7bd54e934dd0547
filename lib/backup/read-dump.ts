import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable, Transform, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { RollbackError, messageOf } from "../errors";
import { DumpFacts, DumpScanner, Section } from "./dump-scanner";
import { sha256File } from "./manifest";

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

/** Hashes and counts the raw bytes of a file as they pass (the checksum of a .gz is of the .gz). */
class RawTap extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;

  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, c?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }

  /** The digest, once every byte went through. */
  sha256(): string {
    return this.hash.digest("hex");
  }
}

/** The SQL text of a dump file (decompressed when it is gzip) after the raw bytes went through `tap`. */
async function sqlStream(path: string, tap: RawTap): Promise<Readable> {
  const stages: NodeJS.ReadWriteStream[] = [tap];
  if (await isGzip(path)) stages.push(createGunzip());
  return pipeline([createReadStream(path), ...stages], () => undefined) as unknown as Readable;
}

export interface ScanResult {
  readonly facts: DumpFacts;
  /** A corrupt or cut gzip stream; then `sha256` is of the whole file all the same. */
  readonly error: string | null;
  readonly sha256: string;
}

export interface ScanOptions {
  /** Receives the sections (the splitter). */
  readonly emit?: (s: Section, b: Buffer) => void;
  /** Awaited between chunks: the splitter's backpressure. */
  readonly afterChunk?: () => Promise<void>;
  /** Raw bytes read (progress). */
  readonly onBytes?: (n: number) => void;
}

/**
 * Reads a dump file (plain or gzip) once: sha256 of its bytes, and the scanner's facts of its
 * SQL. A corrupt gzip stream is an `error`, not a throw: verify reports it as a reason.
 */
export async function scanFile(path: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const scanner = new DumpScanner(opts.emit);
  const tap = new RawTap(opts.onBytes);
  try {
    for await (const chunk of await sqlStream(path, tap)) {
      scanner.push(chunk as Buffer);
      if (opts.afterChunk) await opts.afterChunk();
    }
  } catch (e) {
    return { facts: scanner.end(), error: gzipMessage(e), sha256: (await sha256File(path)).sha256 };
  }
  return { facts: scanner.end(), error: null, sha256: tap.sha256() };
}

function gzipMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (code.startsWith("Z_")) return `gzip stream is corrupt (${messageOf(e)})`;
  if (messageOf(e) === "unexpected end of file") return "gzip stream is cut short (unexpected end of file)";
  return messageOf(e);
}

const TRAILER = "\n-- Dump completed";

/**
 * A backup file as SQL for the client, checked while it streams: the raw bytes must hash to
 * `sha256` and the text must end with the "-- Dump completed" trailer. Either failure errors
 * the stream at its end, so a file changed since it was verified never counts as loaded.
 * `onBytes` reports raw bytes read (progress).
 */
export async function checkedSql(path: string, subject: string, sha256: string, onBytes?: (n: number) => void): Promise<Readable> {
  const tap = new RawTap(onBytes);
  let tail = Buffer.alloc(0);
  const trailerCheck = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tail = Buffer.concat([tail, chunk.subarray(-256)]).subarray(-256);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = tap.sha256();
      if (actual !== sha256) {
        cb(new RollbackError("BACKUP_FILE_CHANGED", subject, `sha256 is ${actual.slice(0, 12)}…, the manifest says ${sha256.slice(0, 12)}…: the file changed after it was verified`));
        return;
      }
      const text = tail.toString("latin1").trimEnd();
      const lastLine = text.slice(text.lastIndexOf("\n"));
      cb(lastLine.startsWith(TRAILER) ? null : new RollbackError("BACKUP_INCOMPLETE", subject, "does not end with the '-- Dump completed' trailer"));
    },
  });
  const sql = await sqlStream(path, tap);
  return pipeline(sql, trailerCheck, () => undefined) as unknown as Readable;
}
