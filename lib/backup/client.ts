import { ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { Dsn } from "../dsn";
import { RollbackError, isRollbackError, messageOf } from "../errors";
import { Flavor, clientToolNames, toolFlavor } from "../flavor";
import { clientTlsOptions } from "../mysql";

/** A client program checked to belong to the server's family. */
export interface Tool {
  readonly bin: string;
  /** Its `--version` line (recorded in the manifest). */
  readonly version: string;
}

/** Per-tool overrides, by family and role; then ROLLBACK_TOOLS_DIR; then PATH. */
const TOOL_ENV: Record<Flavor, Record<"dump" | "client", string>> = {
  mariadb: { dump: "MARIADB_DUMP", client: "MARIADB_CLIENT" },
  mysql: { dump: "MYSQL_DUMP", client: "MYSQL_CLIENT" },
};

function installHint(flavor: Flavor): string {
  const pkg = flavor === "mysql" ? "Oracle's mysql-client" : "mariadb-client";
  const env = TOOL_ENV[flavor];
  return `install ${pkg}, or set ROLLBACK_TOOLS_DIR (a folder with ${Object.values(clientToolNames(flavor)).join(" and ")}) or ${env.dump} / ${env.client}`;
}

/** Where a tool is taken from: its env override, else the tools folder, else the bare name (PATH). Pure. */
export function toolPath(flavor: Flavor, role: "dump" | "client", env: NodeJS.ProcessEnv = process.env): string {
  const override = env[TOOL_ENV[flavor][role]];
  if (override) return override;
  const name = clientToolNames(flavor)[role];
  const dir = env.ROLLBACK_TOOLS_DIR;
  return dir && existsSync(join(dir, name)) ? join(dir, name) : name;
}

/**
 * The dump or client tool for a server of `flavor`, refused when its `--version` says it is the
 * other family's (Debian's `mysqldump` is MariaDB's: it would dump a MySQL server in a form
 * MySQL refuses to load).
 */
export async function clientTool(flavor: Flavor, role: "dump" | "client", env: NodeJS.ProcessEnv = process.env): Promise<Tool> {
  const bin = toolPath(flavor, role, env);
  let version: string;
  try {
    version = (await promisify(execFile)(bin, ["--version"])).stdout.trim();
  } catch (e) {
    throw new RollbackError("TOOL_MISSING", bin, messageOf(e), installHint(flavor));
  }
  if (toolFlavor(version) !== flavor) {
    throw new RollbackError("TOOL_MISMATCH", bin, `is ${toolFlavor(version) === "mysql" ? "MySQL" : "MariaDB"}'s ("${version}"), the server is ${flavor === "mysql" ? "MySQL" : "MariaDB"}`, installHint(flavor));
  }
  return { bin, version };
}

/** Quotes an option-file value: the client unescapes \\ \" \n; `#` inside quotes is not a comment. */
function optionValue(v: string): string {
  return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * The `[client]` section for a DSN. It is read through --defaults-extra-file, so the password
 * never appears in argv (visible to every user in `ps`) nor in the environment of children;
 * the machine's own option files still apply. TLS: the DSN's ssl-mode / ssl-ca / ssl-cert /
 * ssl-key in the tool family's own words (lib/mysql.ts clientTlsOptions), so the dump and the
 * client connect exactly as the engine does.
 */
export function clientConfig(d: Dsn, flavor: Flavor): string {
  return [
    "[client]",
    `host=${optionValue(d.host)}`,
    `port=${d.port}`,
    `user=${optionValue(d.user)}`,
    `password=${optionValue(d.password)}`,
    // With host=localhost the client would use the socket and ignore the port.
    "protocol=TCP",
    ...clientTlsOptions(d, flavor),
    "",
  ].join("\n");
}

const CONFIG_DIR = /^rollback-client-(\d+)-/;

/** Whether a process of this host still runs (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Option files of runs that were killed (SIGKILL leaves no chance to clean up): their process is gone. */
async function removeOrphanedConfigs(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = CONFIG_DIR.exec(name)?.[1];
    if (pid !== undefined && !alive(Number(pid))) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/**
 * Runs `fn` with a 0600 option file in a 0700 temp dir named after this process; both are
 * removed afterwards, whatever happens — and by the next run if this one is killed.
 */
export async function withClientConfig<T>(d: Dsn, flavor: Flavor, fn: (cnf: string) => Promise<T>): Promise<T> {
  await removeOrphanedConfigs();
  const dir = await mkdtemp(join(tmpdir(), `rollback-client-${process.pid}-`));
  const cnf = join(dir, "client.cnf");
  try {
    await writeFile(cnf, clientConfig(d, flavor), { mode: 0o600 });
    return await fn(cnf);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Keeps the last few KB of a child's stderr: enough for the error, bounded for a chatty tool. */
function stderrTail(child: ChildProcess, limit = 8192): () => string {
  let text = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    text = (text + s).slice(-limit);
  });
  return () => text.trim();
}

export interface Spawned {
  readonly child: ChildProcess;
  /** Resolves when the tool exits 0; rejects with its stderr (naming `subject`) otherwise. */
  readonly exited: Promise<void>;
  readonly stderr: () => string;
}

/**
 * Starts a client tool with the option file first (the tools require it in first position).
 * `feed`: we write its stdin (the client); `read`: we read its stdout (the dump).
 */
export function spawnTool(bin: string, cnf: string, args: readonly string[], subject: string, io: "feed" | "read"): Spawned {
  const child = spawn(bin, [`--defaults-extra-file=${cnf}`, ...args], { stdio: io === "feed" ? ["pipe", "ignore", "pipe"] : ["ignore", "pipe", "pipe"] });
  const stderr = stderrTail(child);
  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", (e) => reject(new RollbackError("TOOL_MISSING", bin, messageOf(e), "check ROLLBACK_TOOLS_DIR and PATH")));
    child.once("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new RollbackError("TOOL_FAILED", subject, `${bin} ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${stderr().split("\n").slice(-3).join(" | ") || "no message"}`));
    });
  });
  // The caller awaits it after its stream loop: a tool killed mid-loop must not count as unhandled.
  exited.catch(() => undefined);
  return { child, exited, stderr };
}

/**
 * Feeds a SQL stream to the client (`mysql` / `mariadb`) with `--database=<db>`. The tool's own
 * error wins over the broken pipe it causes; an error of the input (e.g. a corrupt gzip) wins over both.
 */
export async function runSql(client: Tool, cnf: string, database: string, input: Readable, subject: string, signal?: AbortSignal): Promise<void> {
  const tool = spawnTool(client.bin, cnf, ["--batch", "--max-allowed-packet=1G", `--database=${database}`], subject, "feed");
  const abort = () => tool.child.kill("SIGTERM");
  signal?.addEventListener("abort", abort, { once: true });
  // Aborted before the listener was there (between two tables): no event will come.
  if (signal?.aborted) abort();
  try {
    const [fed, ran] = await Promise.allSettled([pipeline(input, tool.child.stdin!), tool.exited]);
    if (signal?.aborted) throw new RollbackError("ABORTED", subject, "interrupted");
    if (fed.status === "rejected" && !isBrokenPipe(fed.reason)) {
      throw isRollbackError(fed.reason) ? fed.reason : new RollbackError("BACKUP_FILE_BAD", subject, messageOf(fed.reason));
    }
    if (ran.status === "rejected") throw ran.reason;
    if (fed.status === "rejected") throw fed.reason;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

function isBrokenPipe(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ERR_STREAM_DESTROYED";
}
