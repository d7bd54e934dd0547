/**
 * Peak memory of sync and verify on wide rows (issue 12 item 5).
 *
 *   npx tsx bench/wide-rows.ts [--rows 2100] [--min-kb 256] [--max-kb 512] [--chunk-size N]
 *                              [--big-mb 0] [--flavor mariadb|mysql] [--json]
 *
 * Two throw-away servers; `w (id INT PRIMARY KEY, b LONGBLOB, note VARCHAR(32))` with --rows
 * rows of --min-kb..--max-kb on the source (server-side RANDOM_BYTES, so the bench itself holds
 * none of it), and --big-mb adds one row of that many MB. The target (max_allowed_packet 64 MB,
 * as RDS's default) starts empty. Our scripts run as the runbook starts them (node --import
 * tsx) under GNU time: a full copy, then a sync after 10 % of the rows changed, then verify of
 * the identical tables. Peak RSS is the process's maximum resident set size; tsx's loader
 * alone takes ~88 MB of it (bench/data.md).
 */
import { parseCli, numberFlag } from "../lib/cli";
import { formatDsn } from "../lib/dsn";
import { SandboxFlavor, startLocalServer } from "../lib/sandbox/server";
import { runOurs } from "./run";

async function main(): Promise<void> {
  const { values } = parseCli(process.argv.slice(2), {
    rows: { type: "string" },
    "min-kb": { type: "string" },
    "max-kb": { type: "string" },
    "chunk-size": { type: "string" },
    "big-mb": { type: "string" },
    flavor: { type: "string" },
    json: { type: "boolean" },
  });
  const rows = numberFlag(values.rows, "rows", 2100, 1);
  const minKb = numberFlag(values["min-kb"], "min-kb", 256, 1);
  const maxKb = numberFlag(values["max-kb"], "max-kb", 512, minKb);
  const bigMb = numberFlag(values["big-mb"], "big-mb", 0, 0);
  const chunkArgs = values["chunk-size"] ? ["--chunk-size", values["chunk-size"]] : [];
  const flavor = (values.flavor ?? "mariadb") as SandboxFlavor;
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const [source, target] = await Promise.all([
    startLocalServer({ flavor, name: "wide-source", bufferPoolMb: 128 }),
    startLocalServer({ flavor, name: "wide-target", timeZone: "+09:00", bufferPoolMb: 128, args: ["--max-allowed-packet=64M"] }),
  ]);
  try {
    const table = "CREATE TABLE w (id INT PRIMARY KEY, b LONGBLOB NOT NULL, note VARCHAR(32))";
    await Promise.all([source.exec("CREATE DATABASE app", `USE app`, table), target.exec("CREATE DATABASE app", "USE app", table)]);
    const t = Date.now();
    const conn = await source.admin();
    await conn.query("USE app");
    const span = maxKb - minKb + 1;
    for (let i = 1; i <= rows; i += 20) {
      const batch = [];
      for (let id = i; id < Math.min(rows + 1, i + 20); id++) batch.push(`(${id}, REPEAT(RANDOM_BYTES(1024), ${minKb + ((id * 7919) % span)}), 'row ${id}')`);
      await conn.query(`INSERT INTO w VALUES ${batch.join(",")}`);
    }
    if (bigMb) await conn.query(`INSERT INTO w VALUES (${rows + 1}, REPEAT(RANDOM_BYTES(1024), ${bigMb * 1024}), 'big')`);
    const [[size]] = (await conn.query("SELECT COUNT(*) AS n, ROUND(SUM(LENGTH(b)) / 1048576) AS mb, ROUND(MAX(LENGTH(b)) / 1048576, 1) AS maxMb FROM w")) as unknown as [
      { n: number; mb: number; maxMb: number }[],
    ];
    log(`loaded ${size.n} rows, ${size.mb} MB of BLOBs (largest ${size.maxMb} MB) in ${Date.now() - t} ms on ${flavor}`);

    const env = { ...process.env, SOURCE_DATABASE_URL: formatDsn(source.dsn("app")), TARGET_DATABASE_URL: formatDsn(target.dsn("app")) };
    const state = ["--state", `${target.datadir}/sync-state.json`];
    const phase = async (name: string, script: string, args: string[]) => {
      const r = await runOurs(script, ["--json", "--quiet", ...chunkArgs, ...args], env);
      const report = JSON.parse(r.stdout || "{}");
      log(`${name}: ${r.ms} ms, exit ${r.code}, identical ${report.identical}, peak RSS ${r.rssMb} MB`);
      return { ms: r.ms, exit: r.code, identical: report.identical, rssMb: r.rssMb };
    };
    const copy = await phase("full copy (sync into an empty table)", "scripts/sync.ts", state);
    await conn.query(`UPDATE w SET b = REVERSE(b) WHERE id % 10 = 3`);
    const delta = await phase("sync after 10 % of rows changed", "scripts/sync.ts", state);
    const verify = await phase("verify of identical tables", "scripts/verify.ts", []);
    await conn.end();
    const figures = { flavor, rows: size.n, blobMb: size.mb, largestMb: size.maxMb, chunkSize: values["chunk-size"] ?? "default", copy, delta, verify };
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    await Promise.all([source.stop(), target.stop()]);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 2;
});
