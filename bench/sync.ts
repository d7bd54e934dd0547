/**
 * Benchmark of the data engine against pt-table-sync (issue 3, "Performance").
 *
 *   npx tsx bench/sync.ts [--rows 1000000] [--latency-ms 0] [--json]
 *
 * Two throw-away MariaDB servers: the source holds `src.t`, the target two identical copies
 * `pt.t` and `ours.t` of the original. Then on the source 1 % of rows are updated, 0.5 %
 * inserted, 0.1 % deleted. pt-table-sync --execute syncs src.t -> pt.t, our sync (the real
 * script, started as the runbook starts it: node --import tsx) syncs src.t -> ours.t. Then verify of the two identical
 * tables is timed against CHECKSUM TABLE on both servers. Queries sent are the servers'
 * `Questions` counters (both servers) read just before and after each tool.
 *
 * --latency-ms N puts a proxy in front of the source that delays each direction by N ms
 * (lib/sandbox/latency-proxy.ts), for both tools' sync: the VPN to AWS that loopback lacks.
 * The verify figures stay direct, as the target defines them.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { parseCli, numberFlag } from "../lib/cli";
import { formatDsn } from "../lib/dsn";
import { startLatencyProxy } from "../lib/sandbox/latency-proxy";
import { LocalServer, startLocalServer } from "../lib/sandbox/server";
import { RUN_TS, runOurs, timed } from "./run";

const run = promisify(execFile);

const TABLE = `CREATE TABLE t (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  amount DECIMAL(20,4) NOT NULL,
  note TEXT NULL,
  created DATETIME(6) NOT NULL
) ENGINE=InnoDB`;

/** Deterministic rows from MariaDB's sequence engine: the same on both servers, loaded server-side. */
function load(db: string, rows: number): string[] {
  return [
    `CREATE DATABASE ${db}`,
    `USE ${db}`,
    TABLE,
    `INSERT INTO t SELECT seq, CONCAT('name-', seq), seq * 1.25, IF(seq % 7 = 0, NULL, REPEAT('x', seq % 50)),
       '2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq % 1000000 MICROSECOND FROM seq_1_to_${rows}`,
  ];
}

async function questions(...servers: LocalServer[]): Promise<number> {
  let n = 0;
  for (const s of servers) {
    const c = await s.admin();
    const [r] = (await c.query("SHOW GLOBAL STATUS LIKE 'Questions'")) as unknown as [{ Value: string }[]];
    n += Number(r[0].Value);
    await c.end();
  }
  return n;
}

/** Best of three start-ups of `sync.ts --help`: what the launcher costs before the first query. */
async function startupMs(cmd: string, args: string[]): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, (await timed(cmd, [...args, "scripts/sync.ts", "--help"])).ms);
  return best;
}

async function main(): Promise<void> {
  const { values } = parseCli(process.argv.slice(2), { rows: { type: "string" }, "latency-ms": { type: "string" }, json: { type: "boolean" } });
  const rows = numberFlag(values.rows, "rows", 1_000_000, 1000);
  const latencyMs = numberFlag(values["latency-ms"], "latency-ms", 0, 0);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const [source, target] = await Promise.all([
    startLocalServer({ name: "bench-source", bufferPoolMb: 512 }),
    startLocalServer({ name: "bench-target", timeZone: "+09:00", bufferPoolMb: 512 }),
  ]);
  try {
    let t = Date.now();
    await Promise.all([source.exec(...load("src", rows)), target.exec(...load("pt", rows)), target.exec(...load("ours", rows))]);
    const loadMs = Date.now() - t;
    log(`loaded ${rows} rows into src.t, pt.t and ours.t in ${loadMs} ms`);
    const updated = Math.round(rows * 0.01);
    const inserted = Math.round(rows * 0.005);
    const deleted = Math.round(rows * 0.001);
    await source.exec(
      "USE src",
      `UPDATE t SET name = CONCAT(name, '-changed'), amount = amount + 1 WHERE id % 100 = 42`,
      `INSERT INTO t SELECT ${rows} + seq, CONCAT('new-', seq), seq, 'inserted', '2025-06-01 12:00:00.123456' FROM seq_1_to_${inserted}`,
      `DELETE FROM t WHERE id % 1000 = 7`,
    );
    log(`source changed: ${updated} updated, ${inserted} inserted, ${deleted} deleted`);

    const proxy = latencyMs ? await startLatencyProxy(source.port, latencyMs) : null;
    const syncSourcePort = proxy?.port ?? source.port;
    if (proxy) log(`both syncs reach the source through a proxy adding ${latencyMs} ms each way (${2 * latencyMs} ms per round trip)`);
    let q = await questions(source, target);
    const pt = await timed("pt-table-sync", [
      "--execute",
      `h=127.0.0.1,P=${syncSourcePort},u=root,D=src,t=t`,
      `h=127.0.0.1,P=${target.port},u=root,D=pt,t=t`,
    ]);
    const ptQueries = (await questions(source, target)) - q;
    log(`pt-table-sync --execute: ${pt.ms} ms, exit ${pt.code}, ${ptQueries} queries, peak RSS ${pt.rssMb} MB`);

    const env = { ...process.env, SOURCE_DATABASE_URL: formatDsn(source.dsn("src")), TARGET_DATABASE_URL: formatDsn(target.dsn("ours")) };
    q = await questions(source, target);
    const sync = await runOurs("scripts/sync.ts", ["--json", "--quiet", "--restart", "--state", `${target.datadir}/sync-state.json`], {
      ...env,
      SOURCE_DATABASE_URL: formatDsn({ ...source.dsn("src"), port: syncSourcePort }),
    });
    const oursQueries = (await questions(source, target)) - q;
    await proxy?.close();
    const oursReport = JSON.parse(sync.stdout);
    log(
      `our sync: ${sync.ms} ms (engine ${oursReport.durationMs} ms), exit ${sync.code}, identical ${oursReport.identical}, ` +
        `${oursReport.inserted} inserted / ${oursReport.updated} updated / ${oursReport.deleted} deleted, ${oursQueries} queries, peak RSS ${sync.rssMb} MB`,
    );

    // pt.t must now equal src.t too, or the comparison is meaningless.
    const ptCheck = await runOurs("scripts/verify.ts", ["--json", "--quiet"], { ...env, TARGET_DATABASE_URL: formatDsn(target.dsn("pt")) });
    const ptIdentical = JSON.parse(ptCheck.stdout).identical;
    log(`pt.t equals src.t after pt-table-sync: ${ptIdentical}`);

    q = await questions(source, target);
    const verify = await runOurs("scripts/verify.ts", ["--json", "--quiet"], env);
    const verifyQueries = (await questions(source, target)) - q;
    const verifyReport = JSON.parse(verify.stdout);
    t = Date.now();
    await Promise.all([source.exec("CHECKSUM TABLE src.t"), target.exec("CHECKSUM TABLE ours.t")]);
    const checksumParallel = Date.now() - t;
    t = Date.now();
    await source.exec("CHECKSUM TABLE src.t");
    await target.exec("CHECKSUM TABLE ours.t");
    const checksumSequential = Date.now() - t;
    log(
      `verify (identical ${verifyReport.identical}): ${verify.ms} ms (engine ${verifyReport.durationMs} ms), ${verifyQueries} queries, peak RSS ${verify.rssMb} MB; ` +
        `CHECKSUM TABLE on both servers: ${checksumParallel} ms in parallel, ${checksumSequential} ms one after the other`,
    );
    const startup = { runbook: await startupMs(RUN_TS[0], RUN_TS.slice(1)), npxTsx: await startupMs("npx", ["tsx"]) };
    log(`start-up of sync.ts --help: ${startup.runbook} ms with ${RUN_TS.join(" ")}, ${startup.npxTsx} ms with npx tsx`);
    const figures = {
      rows,
      latencyMs,
      changes: { updated, inserted, deleted },
      loadMs,
      ptTableSync: { ms: pt.ms, queries: ptQueries, rssMb: pt.rssMb, exit: pt.code, resultIdentical: ptIdentical },
      sync: { ms: sync.ms, engineMs: oursReport.durationMs, queries: oursQueries, rssMb: sync.rssMb, identical: oursReport.identical },
      syncSpeedup: Math.round((pt.ms / sync.ms) * 10) / 10,
      syncSpeedupEngine: Math.round((pt.ms / oursReport.durationMs) * 10) / 10,
      verify: { ms: verify.ms, engineMs: verifyReport.durationMs, queries: verifyQueries, rssMb: verify.rssMb, identical: verifyReport.identical },
      checksumTable: { parallelMs: checksumParallel, sequentialMs: checksumSequential },
      startupMs: startup,
      verifyVsChecksumParallel: Math.round((verifyReport.durationMs / checksumParallel) * 10) / 10,
      verifyVsChecksumSequential: Math.round((verifyReport.durationMs / checksumSequential) * 10) / 10,
      loadAverage: (await run("cat", ["/proc/loadavg"])).stdout.trim(),
    };
    log(`sync speed-up vs pt-table-sync: ${figures.syncSpeedup}x (process wall time), ${figures.syncSpeedupEngine}x (engine time, without tsx start-up)`);
    log(`verify / CHECKSUM TABLE: ${figures.verifyVsChecksumParallel}x (parallel), ${figures.verifyVsChecksumSequential}x (sequential)`);
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    await Promise.all([source.stop(), target.stop()]);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 2;
});
