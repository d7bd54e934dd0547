import { mkdir, readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../backup/helpers";
import { Pair, runScript, startPair } from "./pair";

/**
 * Issue 14's sync items, with real processes: a second sync into the same target is refused
 * by the server-side lock (SYNC_BUSY, naming the holder), `--state` never touches a file the
 * tool did not write, Ctrl-C ends with "interrupted — a rerun resumes" and exit 130 with the
 * target's triggers back, and progress reads "table N of M" after the shrink guard's verdict.
 */
async function waitForProgress(state: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await readFile(state, "utf8").catch(() => "")).includes('"through"')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no committed chunk in ${state} after 30 s`);
}

describe.each(testFlavors())("sync lock, state file and signals (%s)", (flavor) => {
  let pair: Pair;
  const dir = () => pair.target.datadir;
  beforeAll(async () => {
    pair = await startPair(`lock-${flavor}`, { flavor });
    await pair.onBoth("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20))", "CREATE TABLE small (id INT PRIMARY KEY)");
    await pair.onSource(`INSERT INTO big SELECT seq, CONCAT('v', seq) FROM ${seq(1, 20000)}`, "INSERT INTO small VALUES (1), (2)");
    await pair.onBoth("CREATE TRIGGER big_bi BEFORE INSERT ON big FOR EACH ROW SET NEW.v = 'TRIGGER FIRED'");
  }, 120_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it("refuses a second concurrent sync into the same target with SYNC_BUSY naming the holder", async () => {
    const first = runScript("sync", ["--tables", "big", "--chunk-size", "100", "--state", `${dir()}/first.json`, "--json", "--quiet"], pair.env());
    await waitForProgress(`${dir()}/first.json`);
    // Hold the first sync mid-table, so the second surely meets it running: a locking read of
    // a key it has not written yet takes the gap lock its next INSERT waits for.
    const blocker = await connect(pair.target.dsn("app"));
    await blocker.query("START TRANSACTION");
    await blocker.query("SELECT * FROM big WHERE id = 19999 FOR UPDATE");
    const second = await runScript("sync", ["--tables", "small", "--state", `${dir()}/second.json`, "--json", "--quiet"], pair.env()).done;
    expect(second.code, second.stderr).toBe(2);
    const err = JSON.parse(second.stdout).error;
    expect(err).toMatchObject({ code: "SYNC_BUSY", problem: expect.stringMatching(/connection \d+ \(root@[^)]+\) holds the lock 'idc-rollback-sync:app'/) });
    await expect(readFile(`${dir()}/second.json`, "utf8")).rejects.toThrow();
    await blocker.query("ROLLBACK");
    await blocker.end();
    const done = await first.done;
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ identical: true, inserted: 20000 });
    // The lock ends with its session: the next sync runs.
    expect(await pair.sync({ tables: ["small"] })).toMatchObject({ identical: true, inserted: 2 });
  }, 120_000);

  it("--state: a file it did not write, a directory or a missing directory is refused up front", async () => {
    await pair.onTarget("DELETE FROM small");
    const foreign = `${dir()}/notes.txt`;
    await writeFile(foreign, "not a state file\n");
    for (const restart of [false, true]) {
      await expect(pair.sync({ tables: ["small"], stateFile: foreign, restart })).rejects.toMatchObject({ code: "STATE_INVALID", subject: foreign });
    }
    expect(await readFile(foreign, "utf8")).toBe("not a state file\n");
    await mkdir(`${dir()}/a-dir`);
    await expect(pair.sync({ tables: ["small"], stateFile: `${dir()}/a-dir` })).rejects.toMatchObject({ code: "STATE_INVALID", problem: expect.stringContaining("directory") });
    await expect(pair.sync({ tables: ["small"], stateFile: `${dir()}/no/such/dir/state.json` })).rejects.toMatchObject({
      code: "STATE_INVALID",
      problem: expect.stringContaining("does not exist"),
    });
    expect(await pair.column("target", "SELECT COUNT(*) FROM small")).toEqual(["0"]);
  });

  it("SIGINT: recreates the triggers, says 'interrupted — a rerun resumes', exits 130; the rerun resumes", async () => {
    await pair.onTarget("DELETE FROM big");
    const state = `${dir()}/sigint.json`;
    const args = ["--tables", "big,small", "--chunk-size", "100", "--state", state, "--json"];
    const run = runScript("sync", args, pair.env());
    await waitForProgress(state);
    run.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("interrupted — a rerun resumes");
    expect(await pair.column("target", "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'app'")).toEqual(["big_bi"]);
    expect(JSON.parse(await readFile(state, "utf8")).triggers).toEqual([]);
    const rerun = await runScript("sync", args, pair.env()).done;
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout);
    expect(report).toMatchObject({ identical: true, resumed: { stateFile: state } });
    expect(report.inserted + report.resumed.earlier.inserted).toBe(20000 + 2);
    // Progress: the guard's verdict first, then "table N of M", never a "0/s" line.
    const lines = rerun.stderr.split("\n");
    const guardAt = lines.findIndex((l) => l.startsWith("shrink guard"));
    const firstApply = lines.findIndex((l) => l.startsWith("apply "));
    expect(guardAt).toBeGreaterThanOrEqual(0);
    expect(firstApply).toBeGreaterThan(guardAt);
    expect(rerun.stderr).toMatch(/apply small \(table 2 of 2\)/);
    expect(rerun.stderr).not.toMatch(/ 0\/s/);
  }, 120_000);
});
