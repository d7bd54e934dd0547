import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDsn } from "../../lib/dsn";
import { RollbackError } from "../../lib/errors";
import { LocalServer, testFlavors } from "../../lib/sandbox/server";
import { createBackup } from "../../lib/backup";
import { seq, startServers, useSandboxTools } from "./helpers";

useSandboxTools();

const ROOT = join(__dirname, "..", "..");

/** `backup.ts create` as the runbook starts it: node itself, so the signal reaches our process. */
function startCreate(server: LocalServer, out: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/backup.ts", "create", "--out", out], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: formatDsn(server.dsn("app")) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let text = "";
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  return { child, stderr: () => text };
}

/** Pids of processes whose command line names this run's client option file: the dump tool it started. */
function toolsOf(pid: number): number[] {
  const r = spawnSync("sh", ["-c", `grep -l -a -- 'rollback-client-${pid}-' /proc/[0-9]*/cmdline 2>/dev/null`], { encoding: "utf8" });
  return r.stdout.split("\n").filter(Boolean).map((p) => Number(p.split("/")[2])).filter((p) => p !== pid);
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

/** A pid that is certainly not running: a process that has exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

describe.each(testFlavors())("backup create on signals, stale leftovers and a second copy (%s)", (flavor) => {
  let server: LocalServer;
  let stop: () => Promise<void> = async () => undefined;
  let work: string;

  beforeAll(async () => {
    const started = await startServers({ flavor, name: `backup-signals-${flavor}` });
    [server] = started.servers;
    stop = started.stop;
    work = await mkdtemp(join(tmpdir(), "backup-signals-"));
    // Big enough that the dump runs for a while (~1-2 s) when the signal comes.
    await server.exec(
      "CREATE DATABASE app",
      "CREATE TABLE app.events (id INT PRIMARY KEY, payload VARCHAR(200))",
      `INSERT INTO app.events SELECT seq, REPEAT(SHA2(seq, 256), 3) FROM ${seq(1, 400_000)}`,
    );
  });

  afterAll(async () => {
    await stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("on %s mid-dump: exit %i, no stack trace, the dump tool ended, no partial directory, lock or option file left", async (signal, code) => {
    const parent = join(work, signal);
    await mkdir(parent);
    const out = join(parent, "app-backup");
    const run = startCreate(server, out);
    const pid = run.child.pid!;
    // Mid-dump: the partial directory holds a data file and the dump tool runs.
    const partial = await until("a data file in the partial directory", async () => {
      const names = await readdir(parent);
      const p = names.find((n) => n.startsWith(".app-backup.partial-"));
      return p && (await readdir(join(parent, p, "data")).catch(() => [])).length > 0 ? p : null;
    });
    expect(partial).toBe(`.app-backup.partial-${hostname()}-${pid}`);
    const tools = toolsOf(pid);
    expect(tools.length).toBeGreaterThan(0);
    const [exitCode] = (await Promise.all([once(run.child, "exit"), run.child.kill(signal)]))[0] as [number];
    expect(exitCode, run.stderr()).toBe(code);
    expect(run.stderr()).toContain(`${signal}: stopping`);
    expect(run.stderr()).toMatch(/interrupted: .*no backup written/);
    expect(run.stderr()).not.toMatch(/^\s+at /m);
    expect(await readdir(parent)).toEqual([]);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith(`rollback-client-${pid}-`))).toEqual([]);
    expect(tools.filter((t) => !gone(t))).toEqual([]);
  });

  it("restore on SIGTERM mid-load: exit 143, no stack trace, the staging schema dropped, the target not created", async () => {
    const dir = join(work, "for-restore");
    await createBackup({ dsn: server.dsn("app"), out: dir, quiet: true });
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/backup.ts", "restore", dir, "--create"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: formatDsn(server.dsn("app_restored")) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      // Right as the load starts: the signal may come before the client of the first table is running.
      if (stderr.includes("defer-keys done") && !child.killed) child.kill("SIGTERM");
    });
    const started = Date.now();
    const [exitCode] = (await once(child, "exit")) as [number];
    expect(exitCode, stderr).toBe(143);
    expect(stderr).not.toMatch(/400000\/400000 rows/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stderr).toMatch(/^interrupted: ABORTED: /m);
    expect(stderr).not.toMatch(/^\s+at /m);
    const c = await server.admin();
    try {
      const [rows] = await c.query("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'app\\_restored%'");
      expect(rows).toEqual([]);
    } finally {
      await c.end();
    }
  });

  it("removes partial directories of killed runs on this host, not those of live ones; creates the backup 0700 with 0600 files", async () => {
    const parent = join(work, "stale");
    await mkdir(parent);
    const dead = `.old.partial-${hostname()}-${deadPid()}`;
    const live = `.other.partial-${hostname()}-${process.pid}`;
    const elsewhere = `.old.partial-some-other-host-${deadPid()}`;
    for (const d of [dead, live, elsewhere]) {
      await mkdir(join(parent, d));
      await writeFile(join(parent, d, "schema.sql"), "production data");
    }
    const r = await createBackup({ dsn: server.dsn("app"), out: join(parent, "app-backup"), quiet: true });
    expect(r.notes).toContain(`removed ${dead}, left by a backup run that was killed`);
    expect((await readdir(parent)).sort()).toEqual([live, elsewhere, "app-backup"].sort());
    const modes: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await stat(p);
      modes.push(`${p.slice(parent.length)} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const n of await readdir(p)) await walk(join(p, n));
    };
    await walk(r.path);
    expect(modes.filter((m) => !/ (700|600)$/.test(m))).toEqual([]);
    expect(modes.filter((m) => / 700$/.test(m))).toEqual(["/app-backup 700", "/app-backup/data 700"]);
  });

  it("refuses a second create into the same path while the first runs; the first finishes; a dead run's lock is taken over", async () => {
    const parent = join(work, "twice");
    await mkdir(parent);
    const out = join(parent, "app-backup");
    const first = startCreate(server, out);
    await until("the first run's lock", () => readFile(join(parent, ".app-backup.lock"), "utf8").catch(() => null));
    const second = await createBackup({ dsn: server.dsn("app"), out, quiet: true }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RollbackError);
    expect(second).toMatchObject({ code: "BACKUP_BUSY", subject: out });
    expect((second as RollbackError).message).toContain(`${hostname()} ${first.child.pid}`);
    const [exitCode] = (await once(first.child, "exit")) as [number];
    expect(exitCode).toBe(0);
    expect((await readdir(parent)).sort()).toEqual(["app-backup"]);

    const again = join(parent, "again");
    await writeFile(join(parent, ".again.lock"), `${hostname()} ${deadPid()}\n`);
    expect(await createBackup({ dsn: server.dsn("app"), out: again, quiet: true })).toMatchObject({ ok: true, rows: 400_000 });
    expect((await readdir(parent)).sort()).toEqual(["again", "app-backup"]);
  });
});
