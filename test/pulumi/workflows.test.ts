import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "./harness";

/**
 * The GitHub workflows cannot run here (no Pulumi CLI, AWS or runner): this checks that they
 * parse, and that every stack and script they name exists, and the safety properties users
 * rely on: previews comment on PRs with a read-only role off the production runner, switches
 * wait for reviewers and apply only after the impact gate passed on a fresh preview.
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
    for (const [js, name] of text.matchAll(/dist\/scripts\/([\w-]+)\.js/g)) expect(existsSync(join(ROOT, "scripts", `${name}.ts`)), js).toBe(true);
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

  it("switches by hand only, through an environment with reviewers, gated on the impact check of a fresh preview, without saved plans", () => {
    const wf = workflow("pulumi-switch.yml");
    expect(Object.keys(wf.on)).toEqual(["workflow_dispatch"]);
    const stack = wf.on.workflow_dispatch.inputs.stack;
    expect(stack.options).toEqual(["rollback", "cutover"]);
    for (const s of stack.options) expect(existsSync(join(ROOT, `Pulumi.${s}.yaml`))).toBe(true);
    // One run id per workflow run, not per attempt (a re-run attempt resumes the same run).
    expect(wf.env.ROLLBACK_RUN_ID).toBe("${{ github.run_id }}");
    expect(wf.concurrency["cancel-in-progress"]).toBe(false);

    const apply = wf.jobs.apply;
    expect(apply.needs).toBe("check");
    expect(apply.environment).toBe("${{ inputs.stack }}");
    for (const job of [wf.jobs.check, apply]) {
      const runs = steps(job).map((s) => String(s.run ?? ""));
      const preview = runs.findIndex((r) => /^pulumi preview -s "\$STACK" --json > preview\.json$/.test(r));
      const gate = runs.findIndex((r) => r === "node dist/scripts/impact.js preview.json");
      expect(preview, "a preview --json").toBeGreaterThanOrEqual(0);
      expect(gate, "the impact gate after it").toBeGreaterThan(preview);
      const up = steps(job).findIndex((s) => s.with?.command === "up");
      if (job === apply) expect(up, "up after the gate").toBeGreaterThan(gate);
      else expect(up).toBe(-1);
    }
    const [up] = pulumiSteps(apply);
    expect(up.with).toMatchObject({ command: "up", "stack-name": "${{ inputs.stack }}", refresh: true });
    const report = steps(apply).find((s) => String(s.run ?? "").includes("dist/scripts/report.js"));
    expect(report?.if).toBe("always()");
    // The free-text reason reaches the shell through env, never spliced into the script.
    expect(report?.run).not.toContain("inputs.reason");
  });

  it.each(files)("%s depends on no saved plan (--save-plan/--plan are experimental)", (file) => {
    const code = readFileSync(join(DIR, file), "utf8").split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
    expect(code).not.toMatch(/--save-plan|--plan\b|run_attempt/);
    for (const job of Object.values<Json>(workflow(file).jobs)) for (const s of pulumiSteps(job)) expect(s.with, `${file}`).not.toHaveProperty("plan");
  });

  it("gives the write role only to the approved switch; PR code previews read-only, off the production runner", () => {
    const roleOf = (job: Json) => steps(job).find((s) => String(s.uses ?? "").startsWith("aws-actions/configure-aws-credentials"))?.with["role-to-assume"];
    const writers: string[] = [];
    for (const file of files) {
      for (const [name, job] of Object.entries<Json>(workflow(file).jobs)) {
        const role = roleOf(job);
        if (role === undefined) continue;
        expect(role, `${file} ${name}`).toMatch(/^\$\{\{ vars\.AWS_(READONLY_)?ROLE_ARN \}\}$/);
        if (role === "${{ vars.AWS_ROLE_ARN }}") writers.push(`${file}:${name}`);
      }
    }
    expect(writers).toEqual(["pulumi-switch.yml:apply"]);
    expect(workflow("pulumi-switch.yml").jobs.apply.environment).toBeTruthy();
    const pr = workflow("pulumi-preview.yml");
    for (const job of Object.values<Json>(pr.jobs)) expect(JSON.stringify(job["runs-on"])).not.toContain("self-hosted");
  });

  it("checks the live stack for drift every day and fails on any change", () => {
    const wf = workflow("pulumi-drift.yml");
    expect(wf.on.schedule[0].cron).toMatch(/^[\d*]+ [\d*]+ /);
    const [check] = pulumiSteps(wf.jobs.drift);
    expect(check.with).toMatchObject({ command: "preview", "expect-no-changes": true, refresh: true });
    expect(steps(wf.jobs.drift).some((s) => String(s.run ?? "").includes("pulumi stack output runId"))).toBe(true);
  });
});
