import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTimeline } from "../../lib/timeline";
import { runScript } from "../traffic/support";

/**
 * scripts/step.ts under real signals: the runbook's wrapper must pass Ctrl-C / SIGTERM on to the
 * step (which puts things back), wait for it, and say in the timeline that it was interrupted.
 */
describe("scripts/step.ts on SIGINT/SIGTERM and with a bad --timeline", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rollback-step-signals-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** A step command that, on a signal, takes 300 ms to "put things back", writes a marker and exits 128+n. */
  const cleanupChild = (marker: string) => [
    process.execPath,
    "-e",
    `for (const [s, n] of [["SIGINT", 130], ["SIGTERM", 143]]) process.on(s, () => setTimeout(() => { require("fs").writeFileSync(${JSON.stringify(marker)}, s); console.log(JSON.stringify({ ok: false, outcome: "interrupted" })); process.exit(n); }, 300));
     console.error("step running"); setInterval(() => {}, 1000);`,
  ];

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s: forwarded to the step, which is waited for; recorded as interrupted; exit %i", async (sig, code) => {
    const timeline = join(dir, `${sig}.jsonl`);
    const marker = join(dir, `${sig}.cleaned`);
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/step.ts", "nginx-upstream", "--timeline", timeline, "--", ...cleanupChild(marker)], {
      cwd: join(__dirname, "..", ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    while (!stderr.includes("step running")) await new Promise((r) => setTimeout(r, 20));
    child.kill(sig); // to step.ts alone, as `kill PID` or Pulumi's cancellation would
    const exit = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));

    expect(exit, stderr).toBe(code);
    // The step finished its clean-up before step.ts exited.
    expect(await readFile(marker, "utf8")).toBe(sig);
    expect(stderr).toContain(`step nginx-upstream: ${sig}: stopping; waiting for the step, which got the signal`);
    const [e] = await readTimeline(timeline);
    expect(e).toMatchObject({ step: "nginx-upstream", status: "interrupted", exitCode: code, report: { outcome: "interrupted" } });
    expect(e.note).toContain(`interrupted: ${sig} was passed to the step's command`);
  });

  it.each([
    ["a directory", async () => dir, /is a directory/],
    ["a path under a regular file", async () => {
      const f = join(dir, "plain-file");
      await writeFile(f, "x");
      return join(f, "timeline.jsonl");
    }, /has a file where a directory should be/],
    ["a file that is not a timeline", async () => {
      const f = join(dir, "notes.txt");
      await writeFile(f, "my notes, not JSON\n");
      return f;
    }, /notes.txt:1/],
  ])("refuses %s as --timeline before the step runs", async (_what, path, problem) => {
    const marker = join(dir, `ran-${Math.random()}`);
    const r = await runScript("step", ["verify", "--timeline", await path(), "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "ran")`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TIMELINE_INVALID|timeline/i);
    expect(r.stderr).toMatch(problem);
    await expect(stat(marker)).rejects.toThrow(/ENOENT/);
  });
});
