import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { RowDataPacket } from "mysql2/promise";
import { connect, ident } from "../../lib/mysql";
import { LocalServer, LocalServerOptions, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { serverBinaries } from "../../lib/sandbox/binaries";
import { captureTarget } from "../../lib/backup/swap";
import { MANIFEST, Manifest, writeManifest } from "../../lib/backup/manifest";
import { clientTool } from "../../lib/backup/client";

const ROOT = join(__dirname, "..", "..");

/**
 * Starts sandbox servers together; if one fails, the others are stopped before the error is
 * thrown (a bare Promise.all would leave them running). `stop` stops them all.
 */
export async function startServers(...opts: LocalServerOptions[]): Promise<{ servers: LocalServer[]; stop: () => Promise<void> }> {
  const started = await Promise.allSettled(opts.map((o) => startLocalServer(o)));
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { servers, stop };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs scripts/backup.ts as users do; secrets only in env. */
export function backupCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      join(ROOT, "node_modules", ".bin", "tsx"),
      [join(ROOT, "scripts", "backup.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 2) : 0, stdout, stderr }),
    );
  });
}

/** Every row of a table in primary-key order, through the exact-value session (UTC, strings, Buffers). */
export async function rowsOf(server: LocalServer, db: string, table: string): Promise<RowDataPacket[]> {
  const c = await connect(server.dsn(db));
  try {
    const [rows] = await c.query<RowDataPacket[]>(`SELECT * FROM ${ident(table)} ORDER BY 1`);
    return rows;
  } finally {
    await c.end();
  }
}

/**
 * Everything a restore could change about a database, and the list of schemas (a staging or
 * previous schema left behind shows up here too).
 */
export async function fingerprint(server: LocalServer, db: string): Promise<{ state: unknown; checksums: Record<string, string>; schemas: string[] }> {
  const c = await server.admin();
  try {
    const state = await captureTarget(c, db);
    const checksums: Record<string, string> = {};
    for (const t of state.tables) {
      const [r] = await c.query<RowDataPacket[]>(`CHECKSUM TABLE ${ident(db)}.${ident(t)}`);
      checksums[t] = String(r[0].Checksum);
    }
    const [schemas] = await c.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA ORDER BY 1");
    return { state, checksums, schemas: schemas.map((s) => s.s) };
  } finally {
    await c.end();
  }
}

/**
 * Edits a backup's manifest and rewrites its sidecar to match: a consistent-looking edit,
 * as a careless copy script (or an attacker) would make. Only deeper checks can tell.
 */
export async function rewriteManifest(dir: string, edit: (m: Manifest) => void): Promise<void> {
  const m = JSON.parse(await readFile(join(dir, MANIFEST), "utf8")) as Manifest;
  edit(m);
  await writeManifest(join(dir, MANIFEST), m);
}

/** After changing a file of a backup: its manifest entry (size, sha256) and the sidecar recomputed. */
export async function rehash(dir: string, path: string): Promise<void> {
  const bytes = await readFile(join(dir, path));
  await rewriteManifest(dir, (m) => {
    const entry = m.files.find((f) => f.path === path)!;
    entry.bytes = bytes.length;
    entry.sha256 = createHash("sha256").update(bytes).digest("hex");
  });
}

/** `sha256sum FILE > FILE.sha256`, run in the file's directory as an IDC team would. */
export function sha256sum(dir: string, name: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("sh", ["-c", `sha256sum '${name}' > '${name}.sha256'`], { cwd: dir }, (e) => (e ? reject(e) : resolve())),
  );
}

/** The integers from..to as a derived table `seq(seq)` on both flavours (one definition, lib/sandbox/seq.ts). */
export { seq } from "../../lib/sandbox/seq";

/** The dump tool a plain-dump test runs, as an IDC team would: the server's own family's. */
export async function dumpCommand(server: LocalServer, flags: readonly string[]): Promise<string> {
  const tool = await clientTool(server.flavor, "dump");
  return `'${tool.bin}' --host=127.0.0.1 --port=${server.port} --user=root ${flags.join(" ")}`;
}

/**
 * The client tools the library picks come from ROLLBACK_TOOLS_DIR first: point it at the
 * sandbox's MySQL tools (MariaDB's are not in that folder, so they still come from PATH). The
 * CLI runs inherit it.
 */
export function useSandboxTools(): void {
  if (testFlavors().includes("mysql")) process.env.ROLLBACK_TOOLS_DIR ??= serverBinaries("mysql").toolsDir;
}
