import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { DumpFacts, Section } from "./dump-scanner";
import { RollbackError } from "../errors";
import type { ExactSink } from "./exact-floats";
import { ManifestFile, ManifestTable, POST_FILE, SCHEMA_FILE } from "./manifest";

/** mysqldump's trailer format: the client's local time, to the second. */
export function dumpStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A table's data file name: anything but [A-Za-z0-9_-] percent-encoded, so names map one to one and stay inside data/. */
export function dataFileFor(table: string): string {
  const safe = Array.from(Buffer.from(table, "utf8"))
    .map((b) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
  return `data/${safe}.sql.gz`;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A file written through an optional gzip and hashed as its bytes land on disk. */
class HashedFile {
  private readonly hash = createHash("sha256");
  private bytes = 0;
  private readonly head: Writable;
  private readonly done: Promise<void>;

  constructor(
    readonly path: string,
    absolute: string,
    gzipLevel: number | null,
  ) {
    const tap = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        cb(null, chunk);
      },
    });
    const out = createWriteStream(absolute, { flags: "wx", mode: 0o600 });
    if (gzipLevel === null) {
      this.head = tap;
      this.done = pipeline(tap, out);
    } else {
      const gzip = createGzip({ level: gzipLevel });
      this.head = gzip;
      this.done = pipeline(gzip, tap, out);
    }
    // Errors surface through write/close; keep an early one from being "unhandled".
    this.done.catch(() => undefined);
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.head.write(bytes)) await Promise.race([once(this.head, "drain"), this.done]);
  }

  async close(trailer: string | null): Promise<ManifestFile> {
    if (trailer !== null) this.head.write(trailer);
    this.head.end();
    await this.done;
    return { path: this.path, bytes: this.bytes, sha256: this.hash.digest("hex") };
  }

  destroy(): void {
    this.head.destroy();
  }

  /** Destroys the file and waits until its stream is closed (so that removing it afterwards sticks). */
  async discard(): Promise<void> {
    this.destroy();
    await this.done.catch(() => undefined);
  }
}

/**
 * Routes the sections of one dump into the backup layout (see manifest.ts): the header is
 * copied to the top of every file so each file is a complete session script; structure goes
 * to schema.sql, each table's data to its own gzip file, `CREATE DATABASE` / `USE` and the
 * replication statements (SQL_LOG_BIN, GTID_PURGED) nowhere,
 * everything else to post.sql.
 * `accept` is the scanner's synchronous callback; `flush` does the (awaited) writing.
 */
export class BackupWriter {
  private readonly header: Buffer[] = [];
  private readonly queue: Array<[Section, Buffer]> = [];
  private readonly files: ManifestFile[] = [];
  private readonly dataFiles = new Map<string, string>();
  private readonly exact = new Map<string, string>();
  private readonly open = new Map<string, HashedFile>();
  private data: { table: string; file: HashedFile } | null = null;
  private readonly exactFiles: ManifestFile[] = [];
  private readonly headerDone = deferred();
  private aborted = false;

  constructor(
    private readonly dir: string,
    private readonly gzipLevel: number,
  ) {}

  readonly accept = (section: Section, bytes: Buffer): void => {
    this.queue.push([section, bytes]);
  };

  async flush(): Promise<void> {
    for (const [section, bytes] of this.queue.splice(0)) await this.route(section, bytes);
  }

  /** Closes every file; schema.sql and data files get a trailer of their own (post.sql ends with the dump's). */
  async finish(facts: DumpFacts, now = new Date()): Promise<{ files: ManifestFile[]; tables: ManifestTable[] }> {
    await this.flush();
    await this.closeData(now);
    this.files.push(...this.exactFiles);
    const trailer = `-- Dump completed on ${dumpStamp(now)}\n`;
    this.files.unshift(await (await this.file(SCHEMA_FILE, null)).close(trailer));
    this.files.push(await (await this.file(POST_FILE, null)).close(null));
    this.open.clear();
    const tables = [...facts.tables].map(([name, t]) => {
      const exact = this.exact.get(name);
      return { name, rows: t.rows, file: this.dataFiles.get(name) ?? null, ...(exact ? { exact } : {}) };
    });
    return { files: this.files, tables };
  }

  /**
   * Where the exact FLOAT values (exact-floats.ts) go: per table a file of our own, with the
   * dump's header and a trailer like every other file, written while the dump runs; listed in
   * the manifest as the table's `exact`. A file is opened only once the header is complete
   * (the first section after it was routed), so it starts with all of it.
   */
  exactSink(): ExactSink {
    const opened = new Set<HashedFile>();
    return {
      open: async (table) => {
        await this.headerDone.promise;
        const path = dataFileFor(table).replace(/\.sql\.gz$/, ".exact.sql.gz");
        if (this.aborted) throw new RollbackError("ABORTED", path, "the backup was stopped; not written");
        const f = await this.create(path, this.gzipLevel);
        opened.add(f);
        this.open.set(path, f);
        return {
          write: (sql) => f.write(Buffer.from(sql)),
          close: async () => {
            this.open.delete(path);
            this.exactFiles.push(await f.close(`-- Dump completed on ${dumpStamp(new Date())}\n`));
            this.exact.set(table, path);
          },
        };
      },
      discard: async () => {
        for (const f of opened) {
          await f.discard();
          this.open.delete(f.path);
          await rm(join(this.dir, f.path), { force: true });
        }
        const paths = new Set([...opened].map((f) => f.path));
        this.exactFiles.splice(0, this.exactFiles.length, ...this.exactFiles.filter((f) => !paths.has(f.path)));
        for (const [table, path] of this.exact) if (paths.has(path)) this.exact.delete(table);
      },
    };
  }

  abort(): void {
    this.aborted = true;
    this.headerDone.resolve();
    for (const f of this.open.values()) f.destroy();
    this.data?.file.destroy();
  }

  private async route(section: Section, bytes: Buffer): Promise<void> {
    if (section.kind !== "header") this.headerDone.resolve();
    switch (section.kind) {
      case "header":
        this.header.push(bytes);
        return;
      case "database":
        // CREATE DATABASE / USE of the dumped database: the restore chooses its own.
        return;
      case "replication":
        // SQL_LOG_BIN=0 / GTID_PURGED: restores replicate, and restore's --gtid-policy decides the GTIDs.
        return;
      case "structure":
        return (await this.file(SCHEMA_FILE, null)).write(bytes);
      case "post":
        return (await this.file(POST_FILE, null)).write(bytes);
      case "data": {
        const table = section.table as string;
        if (this.data?.table !== table) {
          await this.closeData(new Date());
          const path = dataFileFor(table);
          this.dataFiles.set(table, path);
          this.data = { table, file: await this.create(path, this.gzipLevel) };
        }
        return this.data.file.write(bytes);
      }
    }
  }

  private async file(path: string, gzipLevel: number | null): Promise<HashedFile> {
    let f = this.open.get(path);
    if (!f) {
      f = await this.create(path, gzipLevel);
      this.open.set(path, f);
    }
    return f;
  }

  private async create(path: string, gzipLevel: number | null): Promise<HashedFile> {
    const absolute = join(this.dir, path);
    await mkdir(dirname(absolute), { recursive: true, mode: 0o700 });
    const f = new HashedFile(path, absolute, gzipLevel);
    await f.write(Buffer.concat(this.header));
    return f;
  }

  private async closeData(now: Date): Promise<void> {
    if (!this.data) return;
    const file = this.data.file;
    this.data = null;
    this.files.push(await file.close(`-- Dump completed on ${dumpStamp(now)}\n`));
  }
}
