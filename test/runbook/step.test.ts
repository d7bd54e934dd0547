import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTimeline, runStep } from "../../lib/timeline";

const exec = promisify(execFile);
const TSX = join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
const STEP = join(__dirname, "..", "..", "scripts", "step.ts");

/** Runs scripts/step.ts as the Pulumi Runbook does; resolves with its exit code and output. */
async function step(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await exec(TSX, [STEP, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const node = (js: string) => [process.execPath, "-e", js];

describe("scripts/step.ts: one runbook step, timed and recorded", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rollback-step-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("appends one timeline line with the step's phase, budget, status and --json report, and passes stdout through", async () => {
    const timeline = join(dir, "a.jsonl");
    const r = await step(["sync", "--timeline", timeline, "--", ...node('console.error("copying");console.log(JSON.stringify({identical:true,inserted:3,updated:1,deleted:0}))')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ inserted: 3 });
    expect(r.stderr).toContain("copying");
    const [e] = await readTimeline(timeline);
    expect(e).toMatchObject({ step: "sync", phase: "data-sync", budgetMs: 15 * 60_000, status: "ok", exitCode: 0, report: { identical: true, inserted: 3 } });
    expect(Date.parse(e.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("exits with the command's exit code and records the step as failed", async () => {
    const timeline = join(dir, "b.jsonl");
    const r = await step(["verify", "--timeline", timeline, "--", ...node('console.log(JSON.stringify({identical:false}));process.exit(1)')]);
    expect(r.code).toBe(1);
    const [e] = await readTimeline(timeline);
    expect(e).toMatchObject({ step: "verify", status: "failed", exitCode: 1, report: { identical: false } });
  });

  it("counts the codes in --ok-codes as success (verify exits 1 on differences, expected at the diff step)", async () => {
    const timeline = join(dir, "c.jsonl");
    const r = await step(["diff", "--timeline", timeline, "--ok-codes", "0,1", "--", ...node("process.exit(1)")]);
    expect(r.code).toBe(0);
    expect((await readTimeline(timeline))[0]).toMatchObject({ status: "ok", exitCode: 1, report: null });
  });

  it("writes to env ROLLBACK_TIMELINE when no --timeline is given", async () => {
    const timeline = join(dir, "env", "d.jsonl");
    const r = await step(["health", "--", ...node("")], { ROLLBACK_TIMELINE: timeline });
    expect(r.code).toBe(0);
    expect((await readTimeline(timeline))[0].step).toBe("health");
  });

  it("refuses an unknown step id before running anything", async () => {
    const timeline = join(dir, "e.jsonl");
    const r = await step(["sink", "--timeline", timeline, "--", ...node("require('fs').writeFileSync(process.argv[1]+'.ran','')")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/STEP_UNKNOWN: sink: is not a runbook step/);
    await expect(readFile(timeline)).rejects.toThrow();
  });

  it("never writes a secret from the environment into the timeline, even when the child echoes it", async () => {
    const timeline = join(dir, "f.jsonl");
    const env = { ...process.env, DATABASE_URL: "mysql://app:Sup3rS3cret@10.0.0.5:3306/shop" };
    await runStep({
      step: "drain",
      timeline,
      env,
      onStderr: () => undefined,
      command: node('console.log(JSON.stringify({ok:false,error:"cannot reach "+process.env.DATABASE_URL, pw:"Sup3rS3cret"}))'),
    });
    const text = await readFile(timeline, "utf8");
    expect(text).not.toContain("Sup3rS3cret");
    expect(JSON.parse(text).report).toEqual({ ok: false, error: "cannot reach [redacted]", pw: "[redacted]" });
  });

  it("records a child killed by a signal as 128 + the signal number", async () => {
    const timeline = join(dir, "g.jsonl");
    const { entry } = await runStep({ step: "sync", timeline, onStderr: () => undefined, command: node("process.kill(process.pid,'SIGKILL')") });
    expect(entry).toMatchObject({ status: "failed", exitCode: 137 });
  });
});
