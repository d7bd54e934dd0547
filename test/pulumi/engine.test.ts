import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { hostCommand } from "../../components/hostCommand";
import { type Recorder, ROOT, type StackName, mockStack, redactSecrets, stackFile, unwrapSecrets } from "./harness";

/**
 * What a real engine does that the other mock tests did not look at (issue 13): the folder
 * commands run in, what reaches an SSH server, what the provider feeds back into a command's
 * environment, refresh, and inputs that must not lean on what the state held before.
 */
type Json = Record<string, any>;

async function runProgram(stack: StackName, edit?: (c: Json) => void, mocks?: (r: Recorder) => pulumi.runtime.Mocks, runId: string | null = "run-1", preview = false): Promise<Recorder & { runId?: string }> {
  const config = stackFile(stack);
  edit?.(config);
  const recorder = await mockStack(stack, config, preview);
  if (mocks) await pulumi.runtime.setMocks(mocks(recorder), "rollback", stack, preview);
  if (runId) process.env.ROLLBACK_RUN_ID = runId;
  vi.resetModules();
  const program = await import("../../index.js");
  return Object.assign(await recorder.settled(), { runId: program.runId });
}

const ENV = { ...process.env };
afterEach(() => {
  for (const k of ["ROLLBACK_RUN_ID", "CI", "GITHUB_ACTIONS"]) {
    if (ENV[k] === undefined) delete process.env[k];
    else process.env[k] = ENV[k];
  }
});

const commands = (r: Recorder, kind: "local" | "remote") => r.resources.filter((x) => x.type === `command:${kind}:Command`);
const viaSsh = (c: Json) => {
  c["rollback:nginx"].connection = { mode: "ssh", host: "nginx-1", port: 22, user: "deploy", agentSocketPath: "/run/ssh-agent.sock", projectDir: "/opt/rollback" };
};

describe("commands on a real engine", () => {
  it.each(["rollback", "cutover"] as const)("run every local command of the %s stack in the project root, not the engine's dist/ folder", async (stack) => {
    const r = await runProgram(stack, (c) => (c["rollback:connectionSecret"].recycleCommand = "kubectl rollout restart deploy/shop"));
    const local = commands(r, "local");
    expect(local.map((c) => c.name)).toContain("rollback-connection-secret-recycle");
    for (const c of local) expect(c.inputs.dir, c.name).toBe(ROOT);
    // Timelines are relative to that folder: <root>/.rollback/<runId>/, never dist/.rollback.
    expect(r.byName("rollback-sync").inputs.create).toContain("--timeline .rollback/run-1/timeline.jsonl");
  });

  it("sends no environment to a command over SSH, even with a webhook configured (default sshd refuses Setenv)", async () => {
    const r = await runProgram("rollback", viaSsh);
    const remote = commands(r, "remote");
    expect(remote.map((c) => c.name).sort()).toEqual(["rollback-maintenance-off", "rollback-maintenance-on", "rollback-nginx-upstream-switch"]);
    for (const c of remote) expect(redactSecrets(c.inputs.environment ?? {}), c.name).toEqual({});
    // The runner's steps still notify.
    expect(Object.keys(unwrapSecrets(r.byName("rollback-drain").inputs.environment))).toContain("ROLLBACK_WEBHOOK_URL");
  });

  it("refuses to declare a remote command with an environment", () => {
    const ssh = { mode: "ssh" as const, host: "h", port: 22, user: "u", agentSocketPath: "/a", projectDir: "/p" };
    expect(() => hostCommand("x", { connection: ssh, dir: ROOT, create: "true", environment: { A: "1" }, triggers: [] }, {})).toThrow(/x: a remote command gets no environment .*: A/);
  });

  it.each([["local"], ["ssh"]])("never feeds a command's previous output back into its environment (nginx %s)", async (mode) => {
    const r = await runProgram("rollback", mode === "ssh" ? viaSsh : undefined);
    const all = [...commands(r, "local"), ...commands(r, "remote")];
    expect(all.length).toBeGreaterThan(10);
    for (const c of all) expect(c.inputs.addPreviousOutputInEnv, c.name).toBe(false);
  });
});

describe("refresh and prior state", () => {
  it("refreshes on every preview, up and destroy: Pulumi.yaml options.refresh is always", () => {
    const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8"));
    expect(project.options).toEqual({ refresh: "always" });
  });

  it("declares the same desired value for every resource whatever the state held before (ids, versions, stages)", async () => {
    // Two engines whose state differs: ids, the secret's version and its stages as the other
    // stack may have left them. What the program asks for must not change with them.
    const stale = (generation: string) => (r: Recorder): pulumi.runtime.Mocks => ({
      newResource: (args) => {
        const out = r.mocks.newResource(args) as { id: string; state: Json };
        return { id: `${out.id}-${generation}`, state: { ...out.state, versionId: `v-${generation}`, versionStages: generation === "a" ? ["AWSCURRENT"] : ["AWSPREVIOUS"] } };
      },
      call: r.mocks.call,
    });
    const recycle = (c: Json) => (c["rollback:connectionSecret"].recycleCommand = "kubectl rollout restart deploy/shop");
    const a = await runProgram("rollback", recycle, stale("a"));
    const b = await runProgram("rollback", recycle, stale("b"));
    expect(b.resources.map((x) => [x.name, redactSecrets(x.inputs)])).toEqual(a.resources.map((x) => [x.name, redactSecrets(x.inputs)]));
    expect(a.byName("rollback-connection-secret-version").inputs.versionStages).toEqual(["AWSCURRENT"]);
    for (const side of ["idc", "aws"]) expect(a.byName(`rollback-dns-weights-${side}`).inputs).toMatchObject({ allowOverwrite: true, weightedRoutingPolicies: [{ weight: side === "idc" ? 100 : 0 }] });
  });
});

describe("a failing step, as the engine would print it", () => {
  it("prints one summary line on stdout and nothing on stderr; the details and report go to files, secrets redacted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rollback-step-log-"));
    try {
      const secret = "s3cr3t-Pa55word";
      const child = `console.error("progress 1\\nprogress 2 mysql://u:${secret}@db/x"); console.log(JSON.stringify({ ok: false, rows: Array(500).fill("r") })); process.exit(2)`;
      const log = join(dir, "run-1", "sync.log");
      const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "step.ts"), "sync", "--timeline", join(dir, "run-1", "timeline.jsonl"), "--log", log, "--", process.execPath, "-e", child], {
        env: { ...process.env, TARGET_DATABASE_URL: `mysql://u:${secret}@db/x` },
        encoding: "utf8",
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe("");
      expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stdout).toMatch(/^step sync: failed \(exit 2\) in \d+ ms; details in .*sync\.log, report in .*timeline\.jsonl\n$/);
      const details = readFileSync(log, "utf8");
      expect(details).toContain("progress 2");
      expect(details).toContain('"rows":["r"');
      expect(details).not.toContain(secret);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is how every runbook command starts its script: with --log in the run's folder", async () => {
    const r = await runProgram("rollback");
    expect(r.byName("rollback-sync").inputs.create).toMatch(/^node dist\/scripts\/step\.js sync --timeline \.rollback\/run-1\/timeline\.jsonl --log \.rollback\/run-1\/sync\.log -- /);
    expect(r.byName("rollback-nginx-upstream-switch").inputs.create).toContain(" --log .rollback/run-1/nginx-upstream.log -- ");
  });
});

describe("the run id", () => {
  it("is one id for the preview and the update phase of one `pulumi up` (two program runs), and a new one for the next up", async () => {
    delete process.env.CI;
    delete process.env.GITHUB_ACTIONS;
    const dir = await mkdtemp(join(tmpdir(), "rollback-run-id-"));
    try {
      const here = (c: Json) => (c["rollback:runbook"].timelineDir = dir);
      const preview = await runProgram("rollback", here, undefined, null, true);
      const update = await runProgram("rollback", here, undefined, null, false);
      expect(update.runId).toBe(preview.runId);
      expect(update.byName("rollback-sync").inputs.triggers).toEqual([preview.runId]);
      await new Promise((r) => setTimeout(r, 5));
      const nextPreview = await runProgram("rollback", here, undefined, null, true);
      expect(nextPreview.runId).not.toBe(preview.runId);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is required from the environment in CI, naming what to set", async () => {
    process.env.GITHUB_ACTIONS = "true";
    const failure = await runProgram("rollback", undefined, undefined, null).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(failure)).toContain("RUN_ID_MISSING: ROLLBACK_RUN_ID: must be set in CI, once per workflow run");
  });
});

describe("the RDS dynamic providers", () => {
  it("get the stack's aws: profile and assumed roles, and its region, like the @pulumi/aws resources", async () => {
    const r = await runProgram("rollback", (c) => {
      c["aws:profile"] = "prod";
      c["aws:assumeRoles"] = [{ roleArn: "arn:aws:iam::210987654321:role/rollback-deployer", sessionName: "rollback" }];
    });
    for (const name of ["rollback-rds-power", "rollback-rds-guard"]) {
      expect(r.byName(name).inputs, name).toMatchObject({
        region: "ap-northeast-2",
        access: { profile: "prod", assumeRoles: [{ roleArn: "arn:aws:iam::210987654321:role/rollback-deployer", sessionName: "rollback" }] },
      });
    }
  });

  it("refuses an assumed role that is not an ARN, naming the key", async () => {
    const failure = await runProgram("rollback", (c) => (c["aws:assumeRoles"] = [{ roleArn: "deployer" }])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(failure)).toContain("CONFIG_INVALID: aws:assumeRoles[0].roleArn: must be an IAM role ARN");
  });
});

describe("connection-secret (issue 14)", () => {
  it("proves after the recycle that the app's sessions moved: the fence's accounts, on IDC and none left on AWS, bounded", async () => {
    const r = await runProgram("rollback");
    const proof = r.byName("rollback-connection-secret-sessions");
    expect(proof.inputs.create).toMatch(
      /^node dist\/scripts\/step\.js connection-secret --timeline \.rollback\/run-1\/timeline\.jsonl --log \.rollback\/run-1\/connection-secret\.log -- node dist\/scripts\/app-sessions\.js --users shop_app,shop_worker --timeout 120 --json$/,
    );
    const e = unwrapSecrets(proof.inputs.environment);
    expect(e.SOURCE_DATABASE_URL).toContain("@shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com:3306/shop");
    expect(e.TARGET_DATABASE_URL).toContain("@10.20.0.15:3306/shop");
    expect(proof.inputs.dir).toBe(ROOT);
  });

  it("runs no proof without a recycle command (apps would move only when they re-read the secret)", async () => {
    const r = await runProgram("rollback", (c) => delete c["rollback:connectionSecret"].recycleCommand);
    expect(r.resources.map((x) => x.name)).not.toContain("rollback-connection-secret-sessions");
  });
});
