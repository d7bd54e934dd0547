/**
 * Benchmark of the data engine against pt-table-sync (issue 3, "Performance").
 *
 *   npx tsx bench/sync.ts [--dataset single|employees] [--rows 1000000] [--employees 300000]
 *                         [--latency-ms 0] [--json]
 *
 * Two throw-away MariaDB servers: the source holds database `src`, the target two identical
 * copies `pt` and `ours` of it (bench/datasets.ts: one 1M-row table `t`, or the employees
 * schema, ~3.9 M rows at 300,000 employees). Then the data set's delta runs on the source.
 * pt-table-sync --execute syncs src -> pt (table by table), our sync (the real script, started
 * as the runbook starts it: node --import tsx) syncs src -> ours. Then verify of the identical
 * databases is timed against CHECKSUM TABLE of all tables on both servers. Queries sent are
 * the servers' `Questions` counters (both servers) read just before and after each tool;
 * rows/s are the source's rows over each phase's time.
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
import { employees, singleTable } from "./datasets";
import { RUN_TS, runOurs, timed } from "./run";

const run = promisify(execFile);

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
  const { values } = parseCli(process.argv.slice(2), {
    rows: { type: "string" },
    dataset: { type: "string" },
    employees: { type: "string" },
    "latency-ms": { type: "string" },
    json: { type: "boolean" },
  });
  const name = values.dataset ?? "single";
  if (name !== "single" && name !== "employees") throw new Error(`--dataset must be single or employees (got ${name})`);
  const data = name === "employees" ? employees(numberFlag(values.employees, "employees", 300_000, 100)) : singleTable(numberFlag(values.rows, "rows", 1_000_000, 1000));
  const latencyMs = numberFlag(values["latency-ms"], "latency-ms", 0, 0);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const [source, target] = await Promise.all([
    startLocalServer({ name: "bench-source", bufferPoolMb: 512 }),
    startLocalServer({ name: "bench-target", timeZone: "+09:00", bufferPoolMb: 512 }),
  ]);
  try {
    let t = Date.now();
    await Promise.all([source.exec(...data.load("src")), target.exec(...data.load("pt")), target.exec(...data.load("ours"))]);
    const loadMs = Date.now() - t;
    const rows = await countRows(source, "src", data.tables);
    log(`loaded ${data.name}: ${rows} rows in ${data.tables.length} table(s) into src, pt and ours in ${loadMs} ms`);
    await source.exec("USE src", ...data.delta);
    const sourceRows = await countRows(source, "src", data.tables);
    log(`source changed: ${data.deltaText} (${sourceRows} rows now)`);

    const proxy = latencyMs ? await startLatencyProxy(source.port, latencyMs) : null;
    const syncSourcePort = proxy?.port ?? source.port;
    if (proxy) log(`both syncs reach the source through a proxy adding ${latencyMs} ms each way (${2 * latencyMs} ms per round trip)`);
    let q = await questions(source, target);
    // pt-table-sync one table after the other (in load order), summed: its DSNs name one table each.
    const pt = { ms: 0, code: 0, rssMb: 0 };
    for (const table of data.tables) {
      const r = await timed("pt-table-sync", ["--execute", `h=127.0.0.1,P=${syncSourcePort},u=root,D=src,t=${table}`, `h=127.0.0.1,P=${target.port},u=root,D=pt,t=${table}`]);
      pt.ms += r.ms;
      pt.code = Math.max(pt.code, r.code);
      pt.rssMb = Math.max(pt.rssMb, r.rssMb);
    }
    const ptQueries = (await questions(source, target)) - q;
    log(`pt-table-sync --execute: ${pt.ms} ms (${perSecond(sourceRows, pt.ms)} rows/s), exit ${pt.code}, ${ptQueries} queries, peak RSS ${pt.rssMb} MB`);

    const env = { ...process.env, SOURCE_DATABASE_URL: formatDsn(source.dsn("src")), TARGET_DATABASE_URL: formatDsn(target.dsn("ours")) };
    q = await questions(source, target);
    const sync = await runOurs("scripts/sync.ts", ["--json", "--quiet", "--restart", "--state", `${target.datadir}/sync-state.json`], {
      ...env,
      SOURCE_DATABASE_URL: formatDsn({ ...source.dsn("src"), port: syncSourcePort }),
    });
    const oursQueries = (await questions(source, target)) - q;
    await proxy?.close();
    const oursReport = JSON.parse(sync.stdout);
    const finalCheck = oursReport.verify?.durationMs ?? 0;
    log(
      `our sync: ${sync.ms} ms (engine ${oursReport.durationMs} ms: ${perSecond(sourceRows, oursReport.durationMs)} rows/s; up to the final check ` +
        `${oursReport.durationMs - finalCheck} ms, final check ${finalCheck} ms), exit ${sync.code}, identical ${oursReport.identical}, ` +
        `${oursReport.inserted} inserted / ${oursReport.updated} updated / ${oursReport.deleted} deleted, ${oursQueries} queries, peak RSS ${sync.rssMb} MB`,
    );

    // pt must now equal src too, or the comparison is meaningless.
    const ptCheck = await runOurs("scripts/verify.ts", ["--json", "--quiet"], { ...env, TARGET_DATABASE_URL: formatDsn(target.dsn("pt")) });
    const ptReport = JSON.parse(ptCheck.stdout);
    const ptWrong = (ptReport.tables as { table: string; identical: boolean; missing: number; extra: number; changed: number }[])
      .filter((x) => !x.identical)
      .map((x) => `${x.table}: ${x.missing} missing, ${x.extra} extra, ${x.changed} changed`);
    log(`pt equals src after pt-table-sync: ${ptReport.identical}${ptWrong.length ? ` (${ptWrong.join("; ")})` : ""}`);

    q = await questions(source, target);
    const verify = await runOurs("scripts/verify.ts", ["--json", "--quiet"], env);
    const verifyQueries = (await questions(source, target)) - q;
    const verifyReport = JSON.parse(verify.stdout);
    const list = (db: string) => `CHECKSUM TABLE ${data.tables.map((x) => `${db}.${x}`).join(", ")}`;
    t = Date.now();
    await Promise.all([source.exec(list("src")), target.exec(list("ours"))]);
    const checksumParallel = Date.now() - t;
    t = Date.now();
    await source.exec(list("src"));
    await target.exec(list("ours"));
    const checksumSequential = Date.now() - t;
    log(
      `verify (identical ${verifyReport.identical}): ${verify.ms} ms (engine ${verifyReport.durationMs} ms: ${perSecond(verifyReport.rowsCompared, verifyReport.durationMs)} rows/s), ` +
        `${verifyQueries} queries, peak RSS ${verify.rssMb} MB; CHECKSUM TABLE on both servers: ${checksumParallel} ms in parallel, ${checksumSequential} ms one after the other`,
    );
    const startup = { runbook: await startupMs(RUN_TS[0], RUN_TS.slice(1)), npxTsx: await startupMs("npx", ["tsx"]) };
    log(`start-up of sync.ts --help: ${startup.runbook} ms with ${RUN_TS.join(" ")}, ${startup.npxTsx} ms with npx tsx`);
    const figures = {
      dataset: data.name,
      rows,
      sourceRows,
      latencyMs,
      changes: data.deltaText,
      loadMs,
      ptTableSync: { ms: pt.ms, rowsPerSecond: perSecond(sourceRows, pt.ms), queries: ptQueries, rssMb: pt.rssMb, exit: pt.code, resultIdentical: ptReport.identical, wrong: ptWrong },
      sync: {
        ms: sync.ms,
        engineMs: oursReport.durationMs,
        rowsPerSecond: perSecond(sourceRows, oursReport.durationMs),
        finalCheckMs: finalCheck,
        queries: oursQueries,
        rssMb: sync.rssMb,
        identical: oursReport.identical,
        changed: { inserted: oursReport.inserted, updated: oursReport.updated, deleted: oursReport.deleted },
      },
      syncSpeedup: Math.round((pt.ms / sync.ms) * 10) / 10,
      syncSpeedupEngine: Math.round((pt.ms / oursReport.durationMs) * 10) / 10,
      verify: {
        ms: verify.ms,
        engineMs: verifyReport.durationMs,
        rowsPerSecond: perSecond(verifyReport.rowsCompared, verifyReport.durationMs),
        queries: verifyQueries,
        rssMb: verify.rssMb,
        identical: verifyReport.identical,
      },
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

function perSecond(rows: number, ms: number): number {
  return ms > 0 ? Math.round((rows / ms) * 1000) : 0;
}

async function countRows(server: LocalServer, db: string, tables: readonly string[]): Promise<number> {
  const c = await server.admin();
  try {
    let n = 0;
    for (const t of tables) {
      const [r] = (await c.query(`SELECT COUNT(*) AS n FROM ${db}.${t}`)) as unknown as [{ n: number }[]];
      n += Number(r[0].n);
    }
    return n;
  } finally {
    await c.end();
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 2;
});
