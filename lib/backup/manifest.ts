import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { z } from "zod";

/**
 * A backup directory:
 *   manifest.json          what was dumped, from where, when, with what (below)
 *   manifest.json.sha256   `sha256sum` line for manifest.json: an edited manifest is caught
 *   schema.sql             the tables' CREATE statements (loaded first)
 *   data/<table>.sql.gz    one table's INSERTs (gzip), each a standalone mysql session script
 *   data/<table>.exact.sql.gz  its exact FLOAT values, when the dump's text lost digits (exact-floats.ts)
 *   post.sql               triggers, views, routines, events (created after the tables are in)
 * Every .sql file starts with the dump's session header and ends with mysqldump's
 * "-- Dump completed" trailer, so each one can also be checked and loaded by hand.
 */
export const MANIFEST = "manifest.json";
export const SCHEMA_FILE = "schema.sql";
export const POST_FILE = "post.sql";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits");

/** Relative paths inside the backup only: a tampered manifest must not point at /etc/passwd. */
const innerPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "must be a path inside the backup directory");

const FileEntry = z.object({ path: innerPath, bytes: z.number().int().min(0), sha256: sha256Hex }).strict();

const TableEntry = z
  .object({
    name: z.string().min(1),
    /** Rows in the table's data file, counted while it was written. */
    rows: z.number().int().min(0),
    /** The table's data file (a key of `files`); null when the dump held no data for it. */
    file: innerPath.nullable(),
    /** The exact FLOAT values, run after the data file (lib/backup/exact-floats.ts); absent when not needed or not provable. */
    exact: innerPath.optional(),
  })
  .strict();

export const ManifestSchema = z
  .object({
    format: z.literal("idc-rollback-backup"),
    version: z.literal(1),
    /** The database that was dumped; restore may load it under another name. */
    database: z.string().min(1),
    charset: z.object({ characterSet: z.string(), collation: z.string() }).strict().nullable(),
    server: z
      .object({
        host: z.string(),
        port: z.number().int(),
        hostname: z.string().nullable(),
        version: z.string(),
        versionComment: z.string().nullable(),
        timeZone: z.string().nullable(),
      })
      .strict(),
    tool: z.object({ name: z.string(), version: z.string() }).strict(),
    /** Dump flags used (never a secret: credentials go through a defaults file). */
    options: z.array(z.string()),
    /** When the consistent snapshot was taken: the point in time the data reflects. */
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    binlog: z.object({ file: z.string(), position: z.number().int().min(0) }).strict().nullable(),
    gtid: z.string().nullable(),
    /** Dumped with --tz-utc: TIMESTAMP values are UTC in the files and load unshifted on any server. */
    tzUtc: z.boolean(),
    tables: z.array(TableEntry),
    views: z.array(z.string()),
    files: z.array(FileEntry),
    notes: z.array(z.string()),
  })
  .strict()
  .superRefine((m, ctx) => {
    const paths = new Set(m.files.map((f) => f.path));
    for (const required of [SCHEMA_FILE, POST_FILE]) {
      if (!paths.has(required)) ctx.addIssue({ code: "custom", path: ["files"], message: `lists no ${required}` });
    }
    m.tables.forEach((t, i) => {
      if (t.file !== null && !paths.has(t.file)) {
        ctx.addIssue({ code: "custom", path: ["tables", i, "file"], message: `${t.file} is not in files` });
      }
      if (t.exact !== undefined && !paths.has(t.exact)) {
        ctx.addIssue({ code: "custom", path: ["tables", i, "exact"], message: `${t.exact} is not in files` });
      }
    });
  });

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestFile = z.infer<typeof FileEntry>;
export type ManifestTable = z.infer<typeof TableEntry>;

/** A `sha256sum` line: `<hex>  <name>` (text mode) — what `sha256sum -c` reads. */
export function formatSidecar(sha256: string, file: string): string {
  return `${sha256}  ${basename(file)}\n`;
}

export interface Sidecar {
  readonly sha256: string;
  readonly name: string;
}

/**
 * Parses a sidecar written by `sha256sum FILE > FILE.sha256` (text `  name` or binary ` *name`),
 * or one holding the bare digest. Returns a reason string when it cannot be read.
 */
export function parseSidecar(text: string): Sidecar | string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 1) return `expected one "sha256  file" line, found ${lines.length}`;
  const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(lines[0]);
  if (!m) return `not a sha256sum line: "${lines[0].slice(0, 80)}"`;
  return { sha256: m[1].toLowerCase(), name: m[2] ?? "" };
}

/** Streams a file through sha256 (never holds it in memory). */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Writes the manifest and its sidecar (the sidecar last: a manifest without one is incomplete). */
export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  const text = JSON.stringify(manifest, null, 2) + "\n";
  await writeFile(path, text, { mode: 0o600 });
  await writeFile(`${path}.sha256`, formatSidecar(createHash("sha256").update(text).digest("hex"), path), { mode: 0o600 });
}

export type ManifestRead = { manifest: Manifest; reasons: [] } | { manifest: null; reasons: string[] };

/**
 * Reads a manifest and checks it against its sidecar and the schema. Reasons name the file:
 * the caller prefixes nothing.
 */
export async function readManifest(path: string): Promise<ManifestRead> {
  const name = basename(path);
  let bytes: Buffer;
  let sidecarText: string;
  try {
    bytes = await readFile(path);
  } catch {
    return { manifest: null, reasons: [`${name}: missing (not a backup directory, or the backup did not finish)`] };
  }
  try {
    sidecarText = await readFile(`${path}.sha256`, "utf8");
  } catch {
    return { manifest: null, reasons: [`${name}.sha256: missing, so ${name} cannot be trusted`] };
  }
  const sidecar = parseSidecar(sidecarText);
  if (typeof sidecar === "string") return { manifest: null, reasons: [`${name}.sha256: ${sidecar}`] };
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== sidecar.sha256) {
    return {
      manifest: null,
      reasons: [`${name}: sha256 ${actual.slice(0, 12)}… does not match ${name}.sha256 (${sidecar.sha256.slice(0, 12)}…): the manifest was edited or is corrupt`],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    return { manifest: null, reasons: [`${name}: not JSON (${(e as Error).message})`] };
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    return { manifest: null, reasons: parsed.error.issues.map((i) => `${name}: ${i.path.join(".") || "(root)"}: ${i.message}`) };
  }
  return { manifest: parsed.data, reasons: [] };
}
