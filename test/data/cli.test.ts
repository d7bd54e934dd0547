import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { Pair, runScript, startPair } from "./pair";

/**
 * The scripts as the runbook runs them: env-only secrets, --json on stdout, exit codes,
 * --dry-run that changes nothing, and a sync killed with SIGKILL that a rerun finishes with
 * exact counts.
 */
describe.each(testFlavors())("scripts (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("cli", { flavor });
    await pair.onBoth("CREATE TABLE orders (id BIGINT PRIMARY KEY, total DECIMAL(12,2), note TEXT)", `INSERT INTO orders SELECT seq, seq / 100, NULL FROM ${seq(1, 1000)}`);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  const script = (name: string, args: string[], env = pair.env()) => runScript(name, args, env);

  describe("verify.ts and sync.ts", () => {
    it("verify exits 0 with a JSON report when identical, 1 with differences", async () => {
      const same = await script("verify", ["--json", "--quiet"]).done;
      expect(same.code).toBe(0);
      expect(JSON.parse(same.stdout)).toMatchObject({ identical: true, mismatchPct: 0, rowsCompared: 1000 });
      // Which TLS each side used: MySQL makes certificates at --initialize, MariaDB has none here.
      const tls = flavor === "mysql" ? /^PREFERRED, TLSv1\.[23] \S+$/ : /^PREFERRED, plain TCP$/;
      expect(JSON.parse(same.stdout).tls).toEqual({ source: expect.stringMatching(tls), target: expect.stringMatching(tls) });

      await pair.onSource("UPDATE orders SET note = 'late write' WHERE id = 500");
      const diff = await script("verify", ["--json", "--quiet"]).done;
      expect(diff.code).toBe(1);
      const report = JSON.parse(diff.stdout);
      expect(report.tables[0]).toMatchObject({ table: "orders", changed: 1, mismatchPct: 0.1, sampleKeys: [{ kind: "changed", key: { id: "500" }, columns: ["note"] }] });
      expect(diff.stderr).toContain("orders: 1 changed");
    });

    it("exits 2 with a JSON error naming the variable when a DSN is missing, and never prints a password", async () => {
      const env = { ...pair.env(), TARGET_DATABASE_URL: "", SOURCE_DATABASE_URL: pair.source.url("app").replace("root@", "root:s3cret@") };
      const r = await script("verify", ["--json"], env).done;
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: "DSN_MISSING", subject: "TARGET_DATABASE_URL" });
      expect(r.stdout + r.stderr).not.toContain("s3cret");
    });

    it("sync --dry-run reports the plan and changes nothing", async () => {
      const r = await script("sync", ["--dry-run", "--json", "--quiet"]).done;
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true, updated: 1, inserted: 0, deleted: 0, verify: null });
      expect(await pair.column("target", "SELECT note FROM orders WHERE id = 500")).toEqual([null]);
    });

    it("a sync killed with SIGKILL mid-way is finished by a rerun, with exact counts", async () => {
      await pair.onBoth("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20))");
      await pair.onSource(`INSERT INTO big SELECT seq, CONCAT('v', seq) FROM ${seq(1, 20000)}`);
      const state = `${pair.target.datadir}/kill-state.json`;
      const args = ["--tables", "big", "--chunk-size", "100", "--state", state, "--json", "--quiet"];
      const first = script("sync", args);
      // Kill once the state file shows committed chunks.
      for (let i = 0; i < 600; i++) {
        const text = await readFile(state, "utf8").catch(() => "");
        if (text.includes('"through"')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      first.kill();
      const killed = await first.done;
      expect(killed.code).toBeNull();
      const partial = Number((await pair.column("target", "SELECT COUNT(*) FROM big"))[0]);
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(20000);

      const rerun = await script("sync", args).done;
      expect(rerun.code).toBe(0);
      const report = JSON.parse(rerun.stdout);
      // This run's own inserts, and apart what the killed run had committed: together every row once.
      expect(report).toMatchObject({ identical: true, inserted: 20000 - partial, updated: 0, deleted: 0 });
      expect(report.resumed).toMatchObject({ stateFile: state, earlier: { inserted: partial, updated: 0, deleted: 0 } });

      const again = await script("sync", args).done;
      expect(JSON.parse(again.stdout)).toMatchObject({ identical: true, inserted: 0, updated: 0, deleted: 0, resumed: null });
    });
  });
});
