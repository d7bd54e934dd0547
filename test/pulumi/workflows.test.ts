import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "./harness";

/**
 * The GitHub workflows cannot run here (no Pulumi CLI, AWS or runner): this checks that they
 * parse, and that every stack and script they name exists, and the safety properties users
 * rely on: previews comment on PRs, switches wait for reviewers and apply the saved plan.
 */
type Json = Record<string, any>;
const DIR = join(ROOT, ".github", "workflows");
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const workflow = (name: string): Json => parse(readFileSync(join(DIR, name), "utf8"));
const steps = (job: Json): Json[] => job.steps ?? [];
const pulumiSteps = (job: Json) => steps(job).filter((s) => String(s.uses ?? "").startsWith("pulumi/actions@") && s.with?.command);

describe("the GitHub workflows", () => {
  it.each(files)("%s parses and names only stacks and scripts that exist", (file) => {
    const text = readFileSync(join(DIR, file), "utf8");
    const wf = workflow(file);
    expect(wf.name).toBeTruthy();
    expect(Object.keys(wf.jobs).length).toBeGreaterThan(0);
    for (const script of text.match(/scripts\/[\w-]+\.(ts|sh)/g) ?? []) expect(existsSync(join(ROOT, script)), script).toBe(true);
    for (const stack of text.match(/\b(?:-s|stack-name:)\s+"?([a-z][\w-]*)/g) ?? []) {
      const name = stack.replace(/^(-s|stack-name:)\s+"?/, "");
      expect(existsSync(join(ROOT, `Pulumi.${name}.yaml`)), name).toBe(true);
    }
    for (const job of Object.values<Json>(wf.jobs)) {
      const matrix: string[] = job.strategy?.matrix?.stack ?? [];
      for (const stack of matrix) expect(existsSync(join(ROOT, `Pulumi.${stack}.yaml`)), stack).toBe(true);
      // Pulumi.yaml runs the compiled program: every job that runs Pulumi builds first.
      const runs = steps(job).map((s) => String(s.run ?? ""));
      if (pulumiSteps(job).length > 0) expect(runs).toContain("npm run build");
    }
  });

  it("previews both stacks on pull requests, with a comment on the PR", () => {
    const wf = workflow("pulumi-preview.yml");
    expect(wf.on).toHaveProperty("pull_request");
    expect(wf.permissions["pull-requests"]).toBe("write");
    const job = wf.jobs.preview;
    expect(job.strategy.matrix.stack).toEqual(["rollback", "cutover"]);
    expect(pulumiSteps(job)[0].with).toMatchObject({ command: "preview", "stack-name": "${{ matrix.stack }}", "comment-on-pr": true });
  });

  it("switches by hand only, through an environment with reviewers, applying the previewed plan after a refresh", () => {
    const wf = workflow("pulumi-switch.yml");
    expect(Object.keys(wf.on)).toEqual(["workflow_dispatch"]);
    const stack = wf.on.workflow_dispatch.inputs.stack;
    expect(stack.options).toEqual(["rollback", "cutover"]);
    for (const s of stack.options) expect(existsSync(join(ROOT, `Pulumi.${s}.yaml`))).toBe(true);
    // One run id for both jobs, or `up --plan` would refuse the plan.
    expect(wf.env.ROLLBACK_RUN_ID).toMatch(/github\.run_id/);
    expect(wf.concurrency["cancel-in-progress"]).toBe(false);

    const [preview] = pulumiSteps(wf.jobs.preview);
    expect(preview.with).toMatchObject({ command: "preview", "stack-name": "${{ inputs.stack }}", plan: "plan.json" });
    const apply = wf.jobs.apply;
    expect(apply.needs).toBe("preview");
    expect(apply.environment).toBe("${{ inputs.stack }}");
    const [up] = pulumiSteps(apply);
    expect(up.with).toMatchObject({ command: "up", "stack-name": "${{ inputs.stack }}", plan: "plan.json", refresh: true });
    const report = steps(apply).find((s) => String(s.run ?? "").includes("scripts/report.ts"));
    expect(report?.if).toBe("always()");
    // The free-text reason reaches the shell through env, never spliced into the script.
    expect(report?.run).not.toContain("inputs.reason");
  });

  it("checks the live stack for drift every day and fails on any change", () => {
    const wf = workflow("pulumi-drift.yml");
    expect(wf.on.schedule[0].cron).toMatch(/^[\d*]+ [\d*]+ /);
    const [check] = pulumiSteps(wf.jobs.drift);
    expect(check.with).toMatchObject({ command: "preview", "expect-no-changes": true, refresh: true });
    expect(steps(wf.jobs.drift).some((s) => String(s.run ?? "").includes("pulumi stack output runId"))).toBe(true);
  });
});
