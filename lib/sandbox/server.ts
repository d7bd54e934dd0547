import { spawn, ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import { Dsn, formatDsn } from "../dsn";
import { connect } from "../mysql";
import { freePort } from "./free-port";
import { SandboxFlavor, serverBinaries } from "./binaries";

export type { SandboxFlavor } from "./binaries";

/**
 * A throw-away MySQL-family server — the machine's MariaDB, or Oracle MySQL from the sid
 * chroot that scripts/setup-mysql.sh prepares — with its own datadir under the temp dir,
 * its own port on 127.0.0.1, root without a password. Tests, benchmarks and the drill use
 * it to stand in for IDC and AWS on one machine.
 */
export interface LocalServerOptions {
  /** Which server: "mariadb" (default, or ROLLBACK_FLAVOR) or "mysql". */
  readonly flavor?: SandboxFlavor;
  /** Server time zone, e.g. "+09:00" for a KST IDC. Default "+00:00". */
  readonly timeZone?: string;
  /** Label for logs and the datadir name. */
  readonly name?: string;
  readonly bufferPoolMb?: number;
  /** Extra mariadbd flags. */
  readonly args?: readonly string[];
}

export interface LocalServer {
  readonly name: string;
  readonly flavor: SandboxFlavor;
  readonly port: number;
  readonly datadir: string;
  readonly pid: number;
  /** DSN for a database on this server (root, no password). */
  dsn(database: string): Dsn;
  /** mysql:// URL for a database on this server. */
  url(database: string): string;
  /** A connection (exact-value session settings) without a default database. */
  admin(): Promise<Connection>;
  /** Runs statements as root, one after another. */
  exec(...sql: string[]): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes the datadir. */
  stop(): Promise<void>;
  /** Kills the server without cleanup (to simulate IDC down); `start` brings it back on the same datadir and port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function startLocalServer(opts: LocalServerOptions = {}): Promise<LocalServer> {
  const flavor = opts.flavor ?? defaultFlavor();
  const bin = serverBinaries(flavor);
  const name = opts.name ?? flavor;
  const datadir = await mkdtemp(join(tmpdir(), `rollback-${name}-`));
  // A private tmpdir per server: two installs sharing /tmp delete each other's temporary
  // tables ("Could not remove temporary table '/tmp/#sql-temptable-…'") when started at once.
  const tmp = `${datadir}.tmp`;
  await mkdir(tmp);
  const removeDirs = () => Promise.all([rm(datadir, { recursive: true, force: true }), rm(tmp, { recursive: true, force: true })]);
  try {
    await bin.initialize(datadir, tmp);
  } catch (e) {
    await removeDirs();
    throw e;
  }
  const port = await freePort();
  let child: ChildProcess | undefined;

  const args = [
    ...bin.serverArgs(tmp),
    `--datadir=${datadir}`,
    `--tmpdir=${tmp}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    `--socket=${join(datadir, "mysqld.sock")}`,
    `--pid-file=${join(datadir, "mysqld.pid")}`,
    `--log-error=${join(datadir, "error.log")}`,
    "--user=root",
    `--default-time-zone=${opts.timeZone ?? "+00:00"}`,
    `--innodb-buffer-pool-size=${opts.bufferPoolMb ?? 256}M`,
    "--innodb-flush-log-at-trx-commit=2",
    "--max-allowed-packet=256M",
    "--max-connections=500",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    ...(opts.args ?? []),
  ];

  const dsn = (database: string): Dsn => ({ host: "127.0.0.1", port, user: "root", password: "", database });

  async function waitUntilUp(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const c = await connect({ ...dsn("mysql") });
        await c.end();
        return;
      } catch (e) {
        if (child?.exitCode !== null && child?.exitCode !== undefined) {
          throw new Error(`${name}: ${bin.label} exited with ${child.exitCode}; see ${join(datadir, "error.log")}`);
        }
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function start(): Promise<void> {
    child = spawn(bin.server.command, [...bin.server.args, ...args], { stdio: "ignore", detached: false });
    await waitUntilUp();
  }

  async function kill(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGKILL");
    });
  }

  async function stopProcess(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill("SIGKILL"), 15_000);
      c.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
      c.kill("SIGTERM");
    });
  }

  try {
    await start();
  } catch (e) {
    await stopProcess();
    await removeDirs();
    throw e;
  }

  const server: LocalServer = {
    name,
    flavor,
    port,
    datadir,
    get pid() {
      return child?.pid ?? -1;
    },
    dsn,
    url: (database) => formatDsn(dsn(database)),
    admin: () => connect({ ...dsn("mysql"), database: "" } as Dsn),
    async exec(...sql) {
      const c = await connect({ ...dsn("mysql") });
      try {
        for (const s of sql) await c.query(s);
      } finally {
        await c.end();
      }
    },
    async stop() {
      await stopProcess();
      await removeDirs();
    },
    kill,
    start,
  };
  return server;
}

/** The flavour a test or the drill gets when it does not ask: ROLLBACK_FLAVOR, else MariaDB. */
export function defaultFlavor(env: NodeJS.ProcessEnv = process.env): SandboxFlavor {
  const f = env.ROLLBACK_FLAVOR ?? "mariadb";
  if (f !== "mariadb" && f !== "mysql") throw new Error(`ROLLBACK_FLAVOR must be mariadb or mysql (got ${f})`);
  return f;
}

/**
 * The flavours a test suite runs on: both, unless ROLLBACK_TEST_FLAVORS narrows them
 * (e.g. "mariadb" on a machine where scripts/setup-mysql.sh cannot run). CI runs both.
 */
export function testFlavors(env: NodeJS.ProcessEnv = process.env): SandboxFlavor[] {
  const list = (env.ROLLBACK_TEST_FLAVORS ?? "mariadb,mysql").split(",").map((s) => s.trim()).filter(Boolean);
  for (const f of list) if (f !== "mariadb" && f !== "mysql") throw new Error(`ROLLBACK_TEST_FLAVORS: unknown flavour ${f}`);
  return list as SandboxFlavor[];
}
