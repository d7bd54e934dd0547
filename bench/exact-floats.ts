/**
 * Memory of a backup whose table has a FLOAT column (lib/backup/exact-floats.ts): one table of
 * --rows rows (default 1,000,000) with a FLOAT on a throw-away server with binary logging on
 * (without it there is no exact file to write), backed up with createBackup in this process.
 * Prints the process's peak RSS during the backup (sampled every 10 ms, and the kernel's
 * maxRSS) next to its RSS before. Rows are generated server-side, so the process holds nothing
 * of them before the backup. `--type DOUBLE` makes the same table without a FLOAT: on MariaDB
 * no exact file, the dump's own share of the figure. A figure, not a test.
 *
 *   npx tsx bench/exact-floats.ts [--flavor mariadb|mysql] [--rows N] [--type FLOAT|DOUBLE] [--json]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numberFlag, parseCli } from "../lib/cli";
import { createBackup } from "../lib/backup";
import { RollbackError } from "../lib/errors";
import { benchFlavor } from "../lib/sandbox/binaries";
import { startLocalServer } from "../lib/sandbox/server";
import { seq } from "../lib/sandbox/seq";

const { values } = parseCli(process.argv.slice(2), { flavor: { type: "string" }, rows: { type: "string" }, type: { type: "string" }, json: { type: "boolean" } });
const FLAVOR = benchFlavor(values.flavor);
const ROWS = numberFlag(values.rows, "rows", 1_000_000, 1000);
const TYPE = (values.type ?? "FLOAT").toUpperCase();
if (TYPE !== "FLOAT" && TYPE !== "DOUBLE") throw new RollbackError("ARGS_INVALID", "--type", `expected FLOAT or DOUBLE, got "${values.type}"`);

const mb = (bytes: number) => Math.round(bytes / 1_048_576);

async function main(): Promise<void> {
  // MySQL logs binary by default (as RDS); MariaDB needs --log-bin for the snapshot proof.
  const server = await startLocalServer({ flavor: FLAVOR, name: "bench-exact-floats", args: FLAVOR === "mariadb" ? ["--log-bin"] : [] });
  const work = await mkdtemp(join(tmpdir(), "bench-exact-floats-"));
  try {
    process.stderr.write(`seeding ${ROWS} rows...\n`);
    await server.exec(
      "CREATE DATABASE app",
      `CREATE TABLE app.readings (id INT PRIMARY KEY, sensor VARCHAR(32) NOT NULL, value ${TYPE} NOT NULL, at DATETIME NOT NULL)`,
      `INSERT INTO app.readings SELECT seq, CONCAT('sensor-', seq % 100), seq / 7, '2024-01-01' + INTERVAL seq SECOND FROM ${seq(1, ROWS)}`,
    );
    global.gc?.();
    const rssBefore = process.memoryUsage.rss();
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
    const t = process.hrtime.bigint();
    const report = await createBackup({ dsn: server.dsn("app"), out: join(work, "backup"), quiet: true }).finally(() => clearInterval(sampler));
    const createS = Number(process.hrtime.bigint() - t) / 1e9;
    const exact = (report.tables as ReadonlyArray<{ name: string; exact?: string }>).find((x) => x.name === "readings")?.exact;
    if (!exact && TYPE === "FLOAT") throw new Error(`no exact FLOAT file was written: ${report.notes.join("; ")}`);
    const result = {
      flavor: FLAVOR,
      rows: ROWS,
      type: TYPE,
      exactFile: exact ?? null,
      rssBeforeMb: mb(rssBefore),
      peakRssMb: mb(peak),
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      createBackupS: createS,
      backupBytes: report.bytes,
    };
    process.stderr.write(`${FLAVOR}, ${ROWS} rows with a ${TYPE}${exact ? "" : " (no exact file)"}: backup peak RSS ${result.peakRssMb} MB (before ${result.rssBeforeMb} MB, maxRSS ${result.maxRssMb} MB), ${createS.toFixed(2)} s\n`);
    if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  } finally {
    await rm(work, { recursive: true, force: true });
    await server.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).message}\n`);
  process.exitCode = 2;
});
