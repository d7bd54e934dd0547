import { spawn } from "node:child_process";
import type { Connection } from "mysql2/promise";
import { syncDatabases, verifyDatabases } from "../../lib/data";
import type { SyncOptions } from "../../lib/data/sync";
import type { VerifyOptions } from "../../lib/data/verify";
import { connect } from "../../lib/mysql";
import { LocalServer, LocalServerOptions, SandboxFlavor, startLocalServer } from "../../lib/sandbox/server";

/**
 * Two throw-away servers per test file: the source in UTC (RDS), the target in KST (IDC),
 * each with a database `app`. Automatic InnoDB statistics recalculation is off so the
 * background statistics transactions do not move the commit markers mid-test; the stability
 * tests move them on purpose.
 */
export interface Pair {
  readonly source: LocalServer;
  readonly target: LocalServer;
  /** Runs statements on the source's `app` database (UTC session). */
  onSource(...sql: string[]): Promise<void>;
  onTarget(...sql: string[]): Promise<void>;
  onBoth(...sql: string[]): Promise<void>;
  /** First column of the rows of a query, on one side. */
  column(side: "source" | "target", sql: string): Promise<unknown[]>;
  verify(opts?: Partial<VerifyOptions>): ReturnType<typeof verifyDatabases>;
  sync(opts?: Partial<SyncOptions>): ReturnType<typeof syncDatabases>;
  /** The env a script needs to run against this pair. */
  env(): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * mariadb-install-db sometimes fails when several bootstraps share /tmp at the same moment
 * ("Could not remove temporary table ... Unknown table 'mysql.tmp_user_sys'"): retry once.
 */
async function start(opts: LocalServerOptions): Promise<LocalServer> {
  try {
    return await startLocalServer(opts);
  } catch {
    return startLocalServer(opts);
  }
}

export interface PairOptions {
  readonly source?: string[];
  readonly target?: string[];
  /** Both servers' flavour (default ROLLBACK_FLAVOR, else MariaDB); `testFlavors()` lists what a suite runs on. */
  readonly flavor?: SandboxFlavor;
}

export async function startPair(name: string, extraArgs: PairOptions = {}): Promise<Pair> {
  const common = ["--innodb-stats-auto-recalc=OFF"];
  const flavor = extraArgs.flavor;
  const source = await start({ name: `${name}-source`, flavor, bufferPoolMb: 64, args: [...common, ...(extraArgs.source ?? [])] });
  const target = await start({ name: `${name}-target`, flavor, timeZone: "+09:00", bufferPoolMb: 64, args: [...common, ...(extraArgs.target ?? [])] }).catch(
    async (e) => {
      await source.stop();
      throw e;
    },
  );
  await Promise.all([source.exec("CREATE DATABASE app"), target.exec("CREATE DATABASE app")]);
  const conns: Record<"source" | "target", Connection> = {
    source: await connect(source.dsn("app")),
    target: await connect(target.dsn("app")),
  };
  const run = async (side: "source" | "target", sql: string[]) => {
    for (const s of sql) await conns[side].query(s);
  };
  return {
    source,
    target,
    onSource: (...sql) => run("source", sql),
    onTarget: (...sql) => run("target", sql),
    onBoth: async (...sql) => {
      await run("source", sql);
      await run("target", sql);
    },
    async column(side, sql) {
      const [rows] = await conns[side].query({ sql, rowsAsArray: true });
      return (rows as unknown[][]).map((r) => r[0]);
    },
    verify: (opts = {}) => verifyDatabases({ source: source.dsn("app"), target: target.dsn("app"), ...opts }),
    sync: (opts = {}) =>
      syncDatabases({ source: source.dsn("app"), target: target.dsn("app"), stateFile: `${target.datadir}/sync-state.json`, ...opts }),
    env: () => ({ ...process.env, SOURCE_DATABASE_URL: source.url("app"), TARGET_DATABASE_URL: target.url("app") }),
    async stop() {
      await Promise.allSettled([conns.source.end(), conns.target.end()]);
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

/** Runs `scripts/<name>.ts` the way the runbook does (env-only secrets); `kill` sends SIGKILL unless told another signal. */
export function runScript(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill(signal?: NodeJS.Signals): void } {
  // node itself, not npx: SIGKILL must reach the process that holds the connections.
  const child = spawn(process.execPath, ["--import", "tsx", `scripts/${name}.ts`, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return {
    done: new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr }))),
    kill: (signal = "SIGKILL") => child.kill(signal),
  };
}
