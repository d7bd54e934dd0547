/**
 * Restore benchmark (issue 4): a database of --rows rows (default 1,000,000) in four tables, a
 * foreign key between two of them, on a throw-away MariaDB (or, --flavor mysql, Oracle MySQL),
 * with the server family's own tools (mariadb-dump/mariadb or mysqldump/mysql).
 *   1. dump it once with the dump tool into one .sql; time `<client> <db> < dump.sql` into a fresh db
 *   2. back it up with createBackup; time restoreBackup of that backup into a fresh db
 *      (default --jobs; then --jobs 1, and keys built during the load, to show what each adds)
 *   3. for the create side: the dump tool > file vs createBackup vs a mysql2 stream of every row
 *      formatted as INSERT text (what a mysql2-based dumper would have to do)
 * Both restores are checked equal to the source (CHECKSUM TABLE). Prints figures, not a test.
 *
 *   npx tsx bench/restore.ts [--flavor mariadb|mysql] [--rows N] [--rounds N] [--json]
 */
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import { createConnection, format } from "mysql2";
import type { RowDataPacket } from "mysql2/promise";
import { numberFlag, parseCli } from "../lib/cli";
import { ident } from "../lib/mysql";
import { LocalServer, startLocalServer } from "../lib/sandbox/server";
import { benchFlavor } from "../lib/sandbox/binaries";
import { createBackup, restoreBackup } from "../lib/backup";
import { clientTool } from "../lib/backup/client";
import { DUMP_FLAGS } from "../lib/backup/create";
import { dumpNoPositionFlags, parseServerVersion } from "../lib/flavor";
import { seq } from "../lib/sandbox/seq";

const { values } = parseCli(process.argv.slice(2), { flavor: { type: "string" }, rows: { type: "string" }, rounds: { type: "string" }, json: { type: "boolean" } });
const FLAVOR = benchFlavor(values.flavor);
const ROWS = numberFlag(values.rows, "rows", 1_000_000, 1000);
const ROUNDS = numberFlag(values.rounds, "rounds", 1, 1);

/** Shares of the rows: orders (child of customers) is half of everything, as in a typical OLTP schema. */
const SHAPE = { customers: 0.1, orders: 0.5, events: 0.3, products: 0.1 } as const;

function n(table: keyof typeof SHAPE): number {
  return Math.round(ROWS * SHAPE[table]);
}

async function seed(server: LocalServer): Promise<void> {
  const c = n("customers");
  await server.exec(
    "CREATE DATABASE app",
    "CREATE TABLE app.customers (id INT PRIMARY KEY, email VARCHAR(64) NOT NULL UNIQUE, name VARCHAR(64), created_at DATETIME NOT NULL, balance DECIMAL(12,2), KEY (created_at))",
    `CREATE TABLE app.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(12,2), status ENUM('new','paid','shipped'),
       created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, note VARCHAR(100), KEY (status, created_at),
       CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES app.customers (id))`,
    "CREATE TABLE app.events (id BIGINT PRIMARY KEY, kind VARCHAR(20), payload JSON, at DATETIME(6))",
    "CREATE TABLE app.products (id INT PRIMARY KEY, sku VARCHAR(32) NOT NULL UNIQUE, name VARCHAR(64), price DECIMAL(10,2), tag VARBINARY(16))",
    `INSERT INTO app.customers SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('Name ', seq), '2024-01-01' + INTERVAL seq MINUTE, seq / 7 FROM ${seq(1, c)}`,
    `INSERT INTO app.orders SELECT seq, 1 + seq % ${c}, seq / 3, ELT(1 + seq % 3, 'new', 'paid', 'shipped'), '2024-01-01' + INTERVAL seq SECOND, CONCAT('order note ', seq) FROM ${seq(1, n("orders"))}`,
    `INSERT INTO app.events SELECT seq, ELT(1 + seq % 4, 'click', 'view', 'buy', 'exit'), JSON_OBJECT('n', seq, 's', LEFT(SHA2(seq, 256), 32)), '2024-01-01' + INTERVAL seq * 1000 MICROSECOND FROM ${seq(1, n("events"))}`,
    `INSERT INTO app.products SELECT seq, CONCAT('SKU-', seq), CONCAT('Product ', seq), seq / 100, LEFT(UNHEX(SHA2(seq, 256)), 16) FROM ${seq(1, n("products"))}`,
  );
}

function run(cmd: string, args: string[], io: { stdin?: string; stdout?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", io.stdout ? "pipe" : "ignore", "inherit"] });
    child.once("error", reject);
    const done = new Promise<void>((res, rej) => child.once("close", (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited with ${code}`)))));
    const feed = io.stdin ? pipeline(createReadStream(io.stdin), child.stdin!) : (child.stdin!.end(), Promise.resolve());
    const drain = io.stdout ? pipeline(child.stdout!, createWriteStream(io.stdout)) : Promise.resolve();
    Promise.all([feed, drain, done]).then(() => resolve(), reject);
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * CPU seconds the server process has used (user + system, /proc/PID/stat). The machine is
 * shared: wall time moves with everyone's load, the server's own CPU much less.
 */
async function serverCpuS(server: LocalServer): Promise<number> {
  const fields = (await readFile(`/proc/${server.pid}/stat`, "utf8")).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function withCpu(server: LocalServer, fn: () => Promise<unknown>): Promise<{ wallS: number; serverCpuS: number }> {
  const before = await serverCpuS(server);
  const wallS = await timed(fn);
  return { wallS, serverCpuS: (await serverCpuS(server)) - before };
}

async function serverVersion(server: LocalServer): Promise<string> {
  const c = await server.admin();
  try {
    const [rows] = await c.query<RowDataPacket[]>("SELECT VERSION() AS v");
    return String(rows[0].v);
  } finally {
    await c.end();
  }
}

async function checksums(server: LocalServer, db: string): Promise<string> {
  const c = await server.admin();
  try {
    const [rows] = await c.query<RowDataPacket[]>(`CHECKSUM TABLE ${Object.keys(SHAPE).map((t) => `${ident(db)}.${ident(t)}`).join(", ")}`);
    return rows.map((r) => String(r.Checksum)).join(",");
  } finally {
    await c.end();
  }
}

/** What a mysql2-based dumper would do: stream every row and format it as INSERT text (not written). */
async function mysql2Stream(server: LocalServer): Promise<number> {
  const d = server.dsn("app");
  const c = createConnection({ host: d.host, port: d.port, user: d.user, database: d.database, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  try {
    return await timed(async () => {
      for (const table of Object.keys(SHAPE)) {
        await new Promise<void>((resolve, reject) => {
          c.query(`SELECT * FROM ${ident(table)}`)
            .stream()
            .on("data", (row: Record<string, never>) => format("(?)", [Object.values(row)]))
            .on("end", () => resolve())
            .on("error", reject);
        });
      }
    });
  } finally {
    c.end();
  }
}

async function main(): Promise<void> {
  const server = await startLocalServer({ flavor: FLAVOR, name: "bench-restore", bufferPoolMb: 768 });
  const [dumpTool, clientToolBin] = [(await clientTool(FLAVOR, "dump")).bin, (await clientTool(FLAVOR, "client")).bin];
  const work = await mkdtemp(join(tmpdir(), "bench-restore-"));
  const client = ["--host=127.0.0.1", `--port=${server.port}`, "--user=root"];
  try {
    process.stderr.write(`seeding ${ROWS} rows...\n`);
    await seed(server);
    const source = await checksums(server, "app");
    // MySQL's default (--set-gtid-purged=AUTO) writes SET GTID_PURGED, and loading it into a
    // second database of the same server fails (ERROR 3546): the plain dump goes without it.
    const info = parseServerVersion(await serverVersion(server));
    const dumpFile = join(work, "dump.sql");
    const dumpS = await timed(() => run(dumpTool, [...client, ...DUMP_FLAGS, ...dumpNoPositionFlags(info), "app"], { stdout: dumpFile }));
    const backupDir = join(work, "backup");
    const createS = await timed(() => createBackup({ dsn: server.dsn("app"), out: backupDir, quiet: true }));
    const mysql2S = await mysql2Stream(server);
    const sizes = { dumpBytes: (await stat(dumpFile)).size };

    type Run = { wallS: number; serverCpuS: number };
    const rounds: Array<{ plain: Run; ours: Run; oursJobs1: Run; oursKeysInline: Run; phases: Record<string, number> }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      const plainDb = `plain_${i}`;
      const plain = await withCpu(server, async () => {
        await server.exec(`CREATE DATABASE ${plainDb}`);
        await run(clientToolBin, [...client, plainDb], { stdin: dumpFile });
      });
      let phases = {};
      const ours = await withCpu(server, async () => {
        phases = (await restoreBackup({ dsn: server.dsn(`ours_${i}`), path: backupDir, quiet: true, create: true })).phasesMs;
      });
      const oursJobs1 = await withCpu(server, () => restoreBackup({ dsn: server.dsn(`serial_${i}`), path: backupDir, quiet: true, jobs: 1, create: true }));
      const oursKeysInline = await withCpu(server, () => restoreBackup({ dsn: server.dsn(`inline_${i}`), path: backupDir, quiet: true, deferKeysMinRows: Infinity, create: true }));
      for (const db of [plainDb, `ours_${i}`, `serial_${i}`, `inline_${i}`]) {
        if ((await checksums(server, db)) !== source) throw new Error(`${db} differs from the source`);
        await server.exec(`DROP DATABASE ${db}`);
      }
      rounds.push({ plain, ours, oursJobs1, oursKeysInline, phases });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const med = (k: "plain" | "ours" | "oursJobs1" | "oursKeysInline") => ({
      wallS: median(rounds.map((r) => r[k].wallS)),
      serverCpuS: median(rounds.map((r) => r[k].serverCpuS)),
    });
    const restore = { plain: med("plain"), ours: med("ours"), oursJobs1: med("oursJobs1"), oursKeysInline: med("oursKeysInline") };
    const result = {
      flavor: FLAVOR,
      server: await serverVersion(server),
      rows: ROWS,
      rounds,
      restore: { ...restore, ratio: restore.ours.wallS / restore.plain.wallS },
      create: { dumpToFileS: dumpS, createBackupS: createS, mysql2StreamAndFormatS: mysql2S, ...sizes },
    };
    const f = (s: number) => `${s.toFixed(2)} s`;
    const line = (label: string, r: Run) => `restore  ${label.padEnd(34)} ${f(r.wallS)}  (server CPU ${f(r.serverCpuS)})`;
    process.stderr.write(
      [
        `${result.server}, rows: ${ROWS} (customers ${n("customers")}, orders ${n("orders")} -> customers, events ${n("events")}, products ${n("products")}); medians of ${ROUNDS} round(s)`,
        line(`${FLAVOR === "mysql" ? "mysql" : "mariadb"} < dump.sql`, restore.plain),
        line("restoreBackup (default jobs)", restore.ours) + `   ratio ours/plain = ${result.restore.ratio.toFixed(2)}`,
        line("restoreBackup --jobs 1", restore.oursJobs1),
        line("restoreBackup, keys not deferred", restore.oursKeysInline),
        `restore  phases (ms, last round): ${JSON.stringify(rounds.at(-1)!.phases)}`,
        `create   ${FLAVOR === "mysql" ? "mysqldump" : "mariadb-dump"} > dump.sql:${FLAVOR === "mysql" ? "   " : ""}       ${f(dumpS)} (${(sizes.dumpBytes / 1_048_576).toFixed(1)} MB)`,
        `create   createBackup:                  ${f(createS)}`,
        `create   mysql2 stream + INSERT format: ${f(mysql2S)} (rows formatted, nothing written)`,
        "",
      ].join("\n"),
    );
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
