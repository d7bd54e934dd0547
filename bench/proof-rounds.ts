/**
 * Rounds verify needs right after a write, per stability proof (issue 10 item 7: on MySQL,
 * InnoDB's trx id counter moves once ~250 ms after a write, so the server-wide marker repeats
 * the comparison that was running then; the binary log proof reads row events and does not
 * see that background movement).
 *
 *   npx tsx bench/proof-rounds.ts [--flavor mysql|mariadb] [--tables 6] [--rows 2000] [--runs 5]
 *
 * A pair of throw-away servers (binary log on, as RDS); per run, the same row of every table is
 * changed on both servers (as a sync's last chunk does on the target), and verify starts at
 * once: as root (binlog proof), then as an account without REPLICATION SLAVE / BINLOG MONITOR
 * (the server-wide marker, the proof every run used before). Prints rounds and verify time.
 */
import { parseCli, numberFlag } from "../lib/cli";
import { verifyDatabases } from "../lib/data";
import { SandboxFlavor, startLocalServer } from "../lib/sandbox/server";

async function main(): Promise<void> {
  const { values } = parseCli(process.argv.slice(2), { flavor: { type: "string" }, tables: { type: "string" }, rows: { type: "string" }, runs: { type: "string" } });
  const flavor = (values.flavor ?? "mysql") as SandboxFlavor;
  const tables = numberFlag(values.tables, "tables", 6, 1);
  const rows = numberFlag(values.rows, "rows", 2000, 1);
  const runs = numberFlag(values.runs, "runs", 5, 1);
  const binlog = flavor === "mariadb" ? ["--log-bin", "--binlog-format=ROW"] : [];
  const [source, target] = await Promise.all([
    startLocalServer({ flavor, name: "rounds-source", args: binlog }),
    startLocalServer({ flavor, name: "rounds-target", timeZone: "+09:00", args: binlog }),
  ]);
  try {
    const values = Array.from({ length: rows }, (_, i) => `(${i + 1}, ${i + 1})`).join(",");
    const ddl = Array.from({ length: tables }, (_, t) => [`CREATE TABLE t${t} (id INT PRIMARY KEY, v INT)`, `INSERT INTO t${t} VALUES ${values}`]).flat();
    await Promise.all([source.exec("CREATE DATABASE app", "USE app", ...ddl), target.exec("CREATE DATABASE app", "USE app", ...ddl)]);
    const grant = flavor === "mysql" ? "SELECT, PROCESS, REPLICATION CLIENT" : "SELECT, PROCESS";
    await Promise.all([source, target].map((s) => s.exec("CREATE USER 'plain'@'%'", `GRANT ${grant} ON *.* TO 'plain'@'%'`)));
    const proofs = {
      binlog: { source: source.dsn("app"), target: target.dsn("app") },
      marker: { source: { ...source.dsn("app"), user: "plain" }, target: { ...target.dsn("app"), user: "plain" } },
    };
    // The background movement itself: InnoDB's counter after a write, sampled every 25 ms for 1.5 s.
    const probe = await source.admin();
    const counter = async () => {
      const [r] = (await probe.query("SHOW ENGINE INNODB STATUS")) as unknown as [{ Status: string }[]];
      return /Trx id counter\s+(\d+)/.exec(r[0].Status)?.[1] ?? "?";
    };
    await probe.query("UPDATE app.t0 SET v = v WHERE id = 1 AND v < 0");
    await probe.query("UPDATE app.t0 SET v = v + 0 WHERE id = 1");
    const written = Date.now();
    const moves: string[] = [];
    let last = await counter();
    while (Date.now() - written < 1500) {
      await new Promise((r) => setTimeout(r, 25));
      const now = await counter();
      if (now !== last) moves.push(`${Date.now() - written} ms (${last} -> ${now})`);
      last = now;
    }
    await probe.end();
    process.stderr.write(`${flavor}: InnoDB trx id counter after one write moved at ${moves.join(", ") || "never within 1.5 s"}\n`);

    const out: Record<string, { rounds: number[]; ms: number[]; kind: string }> = {};
    for (const [name, dsns] of Object.entries(proofs)) {
      out[name] = { rounds: [], ms: [], kind: "" };
      for (let run = 1; run <= runs; run++) {
        const write = ["USE app", ...Array.from({ length: tables }, (_, t) => `UPDATE t${t} SET v = v + 1 WHERE id = ${run}`)];
        await Promise.all([source.exec(...write), target.exec(...write)]);
        const started = Date.now();
        const v = await verifyDatabases({ ...dsns });
        out[name].ms.push(Date.now() - started);
        out[name].rounds.push(v.tables.reduce((n, t) => n + t.rounds, 0));
        out[name].kind = `${v.proof?.source.kind}/${v.proof?.target.kind}`;
        if (!v.identical) throw new Error(`verify (${name}) not identical: ${v.tables.map((t) => `${t.table} ${t.stability}`).join(", ")}`);
      }
      process.stderr.write(
        `${flavor}, ${name} proof (${out[name].kind}): rounds for ${tables} tables per run ${out[name].rounds.join(", ")}; verify ms ${out[name].ms.join(", ")}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify({ flavor, tables, rows, runs, counterMoves: moves, ...out })}\n`);
  } finally {
    await Promise.all([source.stop(), target.stop()]);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 2;
});
