import { afterEach, describe, expect, it, vi } from "vitest";
import { STEPS } from "../../lib/runbook";
import { type Recorder, type StackName, SECRETS, isWrappedSecret, mockStack, outputsOf, redactSecrets, stackFile, unwrapSecrets } from "./harness";

type Json = Record<string, any>;

/** Runs index.ts for `stack` (config from its stack file, optionally edited) under mocks. */
async function runProgram(stack: StackName, edit?: (c: Json) => void, runId = "run-1"): Promise<{ recorder: Recorder; outputs: Json }> {
  const config = stackFile(stack);
  edit?.(config);
  const recorder = await mockStack(stack, config);
  process.env.ROLLBACK_RUN_ID = runId;
  vi.resetModules();
  const outputs = await outputsOf(await import("../../index.js"));
  await recorder.settled();
  return { recorder, outputs };
}

afterEach(() => {
  delete process.env.ROLLBACK_RUN_ID;
});

const COMMAND = /^command:(local|remote):Command$/;
const commands = (r: Recorder) => r.resources.filter((x) => COMMAND.test(x.type));
const env = (r: Recorder, name: string) => unwrapSecrets(r.byName(name).inputs.environment);
const weightOf = (r: Recorder, side: "idc" | "aws") => r.byName(`rollback-dns-weights-${side}`).inputs.weightedRoutingPolicies[0].weight;
const secretValue = (r: Recorder) => JSON.parse(unwrapSecrets(r.byName("rollback-connection-secret-version").inputs.secretString));

describe("the rollback stack", () => {
  it("makes IDC live on every layer and exports what it did", async () => {
    const { recorder, outputs } = await runProgram("rollback");
    expect(outputs).toEqual({
      activeTarget: "idc",
      dnsWeights: { idc: 100, aws: 0 },
      nginxUpstream: "# Managed by the rollback stack (stream upstream); rewritten on every switch.\nupstream shop_db {\n    server 10.20.0.15:3306;\n}\n",
      rdsDesiredState: "stopped",
      runbook: STEPS.map((s) => s.id),
      connectionSecretArn: "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:rollback-connection-secret-version",
      runId: "run-1",
    });
    expect([weightOf(recorder, "idc"), weightOf(recorder, "aws")]).toEqual([100, 0]);
    expect(secretValue(recorder)).toMatchObject({ engine: "mysql", host: "10.20.0.15", port: 3306, username: "rollback", dbname: "shop", connectionLimit: 20 });
    expect(recorder.byName("rollback-nginx-upstream-switch").inputs.create).toContain("--servers 10.20.0.15:3306");
    expect(recorder.byName("rollback-rds-power").inputs).toMatchObject({ instanceId: "shop-prod", region: "ap-northeast-2", desiredState: "stopped", finalSnapshot: true });
    expect(recorder.byName("rollback-rds-guard").inputs).toMatchObject({ state: "ENABLED", scheduleName: "keep-shop-prod-stopped", roleArn: "arn:aws:iam::123456789012:role/rollback-rds-stop-guard" });
  });

  it("checks and restarts the running IDC container through the idc-health step, and declares no container (issue 13, item 2)", async () => {
    const { recorder } = await runProgram("rollback");
    expect(recorder.resources.filter((r) => r.type.startsWith("docker:") || r.type === "pulumi:providers:docker")).toEqual([]);
    expect(recorder.byName("rollback-idc-mysql-health").inputs.create).toContain("dist/scripts/idc-mysql.js restart --container shop-mysql --timeout 300 --json");
    expect(env(recorder, "rollback-idc-mysql-health")).toEqual({ DOCKER_HOST: "ssh://deploy@10.20.0.15", DATABASE_URL: "mysql://rollback:idc-Pa55%3Aw0rd%2Fx@10.20.0.15:3306/shop?ssl-mode=PREFERRED" });
  });
});

describe("pulumi preview", () => {
  it("shows every layer and every runbook command the up would run, without running any", async () => {
    const up = (await runProgram("rollback")).recorder.resources.map((r) => r.name);
    const recorder = await mockStack("rollback", stackFile("rollback"), true);
    process.env.ROLLBACK_RUN_ID = "run-1";
    vi.resetModules();
    const program = await import("../../index.js");
    await recorder.settled();
    // Only values known without the engine are read: in preview, an output no mock returned never resolves.
    expect([program.activeTarget, program.dnsWeights, program.rdsDesiredState]).toEqual(["idc", { idc: 100, aws: 0 }, "stopped"]);
    expect(recorder.resources.map((r) => r.name).sort()).toEqual([...up].sort());
  });
});

describe("the cutover stack", () => {
  it("makes AWS live on every layer, starting RDS before anything touches it", async () => {
    const { recorder, outputs } = await runProgram("cutover");
    expect(outputs).toMatchObject({ activeTarget: "aws", dnsWeights: { idc: 0, aws: 100 }, rdsDesiredState: "available" });
    expect(outputs.nginxUpstream).toContain("server shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com:3306;");
    expect(outputs.runbook).toEqual(["preflight", "rds-power", ...STEPS.map((s) => s.id).filter((id) => id !== "rds-power" && id !== "preflight")]);
    expect(secretValue(recorder).host).toBe("shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com");
    expect(recorder.byName("rollback-rds-guard").inputs.state).toBe("DISABLED");
  });

  it("checks the IDC container and declares none either", async () => {
    const { recorder } = await runProgram("cutover");
    expect(recorder.ofType("docker:index/container:Container")).toEqual([]);
    expect(recorder.byName("rollback-idc-mysql-health").inputs.create).toContain("dist/scripts/idc-mysql.js restart");
  });
});

describe("flipping the target", () => {
  it("flips every layer and the direction of the data steps, and nothing else", async () => {
    const idc = (await runProgram("rollback")).recorder;
    const aws = (await runProgram("rollback", (c) => (c["rollback:target"] = "aws"))).recorder;
    expect([weightOf(idc, "idc"), weightOf(idc, "aws")]).toEqual([weightOf(aws, "aws"), weightOf(aws, "idc")]);
    expect(secretValue(idc).host).toBe("10.20.0.15");
    expect(secretValue(aws).host).toBe("shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com");
    expect(idc.byName("rollback-nginx-upstream-switch").inputs.create).toContain("--servers 10.20.0.15:3306");
    expect(aws.byName("rollback-nginx-upstream-switch").inputs.create).toContain("--servers shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com:3306");
    expect([idc, aws].map((r) => r.byName("rollback-rds-power").inputs.desiredState)).toEqual(["stopped", "available"]);
    expect([idc, aws].map((r) => r.byName("rollback-rds-guard").inputs.state)).toEqual(["ENABLED", "DISABLED"]);
    for (const step of ["diff", "sync", "verify"]) {
      const [a, b] = [env(idc, `rollback-${step}`), env(aws, `rollback-${step}`)];
      expect(a.SOURCE_DATABASE_URL).toBe(b.TARGET_DATABASE_URL);
      expect(a.TARGET_DATABASE_URL).toBe(b.SOURCE_DATABASE_URL);
      expect(a.TARGET_DATABASE_URL).toContain("@10.20.0.15:3306/shop");
    }
    // In-flight transactions are drained on the side being left; health is checked on the side going live.
    expect(env(idc, "rollback-drain").DATABASE_URL).toBe(env(aws, "rollback-health").DATABASE_URL);
    expect(env(idc, "rollback-health").DATABASE_URL).toBe(env(aws, "rollback-drain").DATABASE_URL);
    // Same records, same secret, same nginx file: only their contents move.
    for (const name of ["rollback-dns-weights-idc", "rollback-dns-weights-aws"]) {
      const { weightedRoutingPolicies: _a, ...restIdc } = idc.byName(name).inputs;
      const { weightedRoutingPolicies: _b, ...restAws } = aws.byName(name).inputs;
      expect(restAws).toEqual(restIdc);
    }
  });

  it("moves users gradually when the weight plan has steps", async () => {
    const steps = [{ target: 10, source: 90 }, { target: 50, source: 50 }, { target: 100, source: 0 }];
    const first = await runProgram("rollback", (c) => Object.assign(c["rollback:route53"], { weightSteps: steps, step: 1 }));
    expect(first.outputs.dnsWeights).toEqual({ idc: 10, aws: 90 });
    const back = await runProgram("cutover", (c) => Object.assign(c["rollback:route53"], { weightSteps: steps, step: 2 }));
    expect(back.outputs.dnsWeights).toEqual({ idc: 50, aws: 50 });
  });
});

describe("secrets", () => {
  const plainForms = Object.values(SECRETS).flatMap((s) => [s, encodeURIComponent(s)]);

  it.each(["rollback", "cutover"] as const)("never appear in plain text in any resource input or output (%s)", async (stack) => {
    const { recorder, outputs } = await runProgram(stack, (c) => {
      c["rollback:nginx"].connection = { mode: "ssh", host: "nginx-1", user: "deploy", privateKey: "-----BEGIN KEY----- s3cretKeyMaterial", projectDir: "/opt/rollback" };
    });
    const visible = JSON.stringify([recorder.resources.map((r) => redactSecrets(r.inputs)), outputs]);
    for (const s of [...plainForms, "s3cretKeyMaterial"]) expect(visible).not.toContain(s);
    // ... while the secrets did reach the resources that need them, wrapped.
    expect(JSON.stringify(recorder.resources.map((r) => unwrapSecrets(r.inputs)))).toContain(encodeURIComponent(SECRETS["aws.password"]));
  });

  it("reach scripts only through the environment, never the command line", async () => {
    const { recorder } = await runProgram("rollback");
    for (const c of commands(recorder)) {
      for (const s of plainForms) expect(c.inputs.create).not.toContain(s);
      for (const [k, v] of Object.entries<unknown>(c.inputs.environment ?? {})) {
        if (/DATABASE_URL$/.test(k)) expect(isWrappedSecret(v), `${c.name} ${k}`).toBe(true);
      }
      // A script's report may echo what it was given: no logs where a secret is near.
      if (Object.keys(c.inputs.environment ?? {}).length > 0) expect(c.inputs.logging, c.name).toBe("none");
    }
    expect(isWrappedSecret(recorder.byName("rollback-connection-secret-version").inputs.secretString)).toBe(true);
  });

  it("writes an SSM SecureString instead when the app reads one, overwriting the existing parameter", async () => {
    const { recorder, outputs } = await runProgram("rollback", (c) => {
      Object.assign(c["rollback:connectionSecret"], { store: "ssm", id: "/shop/db/url", format: "url", extras: {} });
    });
    const p = recorder.byName("rollback-connection-secret-parameter").inputs;
    expect(p).toMatchObject({ name: "/shop/db/url", type: "SecureString", overwrite: true });
    expect(isWrappedSecret(p.value)).toBe(true);
    expect(unwrapSecrets(p.value)).toBe("mysql://rollback:idc-Pa55%3Aw0rd%2Fx@10.20.0.15:3306/shop");
    expect(outputs.connectionSecretArn).toBe("arn:aws:ssm:ap-northeast-2:123456789012:parameter/shop/db/url");
  });
});

describe("the runbook's commands", () => {
  it("runs one command per step that has a script, its compiled copy wrapped in dist/scripts/step.js with the run's timeline", async () => {
    const { recorder } = await runProgram("rollback");
    for (const step of STEPS.filter((s) => s.id !== "report")) {
      const running = commands(recorder).filter((c) => String(c.inputs.create).includes(`dist/scripts/step.js ${step.id} `));
      expect(running.length, step.id).toBe(step.script ? 1 : 0);
      if (step.script) {
        expect(running[0].inputs.create).toMatch(new RegExp(`^node dist/scripts/step\\.js ${step.id} --timeline \\.rollback/run-1/timeline\\.jsonl( --ok-codes [0-9,]+)? --log \\.rollback/run-1/${step.id}\\.log -- node dist/${step.script.replace(/\.ts$/, ".js")} `));
      }
    }
    expect(recorder.byName("rollback-diff").inputs.create).toContain("--ok-codes 0,1 --");
    expect(recorder.byName("rollback-verify").inputs.create).not.toContain("--ok-codes");
  });

  it("gives every script step and the report the webhook (as a secret) and contacts, so a real run notifies", async () => {
    const { recorder } = await runProgram("rollback");
    const steps = commands(recorder).filter((c) => /dist\/scripts\/(step|report)\.js/.test(String(c.inputs.create)) && c.name.startsWith("rollback-") && !c.name.includes("upstream") && !c.name.includes("idc-mysql"));
    expect(steps.length).toBeGreaterThan(5);
    for (const c of steps) {
      // The URL is secret: either the value itself or the whole environment map arrives wrapped.
      expect(isWrappedSecret(c.inputs.environment) || isWrappedSecret(c.inputs.environment.ROLLBACK_WEBHOOK_URL), c.name).toBe(true);
      const e = env(recorder, c.name);
      expect(e.ROLLBACK_WEBHOOK_URL).toBe(SECRETS["notifications.webhookUrl"]);
      expect(JSON.parse(e.ROLLBACK_CONTACTS).dba.name, c.name).toBeTruthy();
      expect(c.inputs.logging, c.name).toBe("none");
    }
  });

  it("writes the run's report last, with what each layer was set to and the contacts, after RDS", async () => {
    const { recorder } = await runProgram("rollback");
    const report = recorder.byName("rollback-report");
    expect(report.inputs.create).toBe("node dist/scripts/report.js --timeline .rollback/run-1/timeline.jsonl --out .rollback/run-1 --json");
    const changes = JSON.parse(env(recorder, "rollback-report").ROLLBACK_CHANGES);
    expect(changes).toMatchObject({ dnsWeights: { idc: expect.any(Number), aws: 0 }, rdsDesiredState: "stopped" });
    expect(changes.nginxUpstream).toContain("upstream shop_db {");
    expect(Object.keys(JSON.parse(env(recorder, "rollback-report").ROLLBACK_CONTACTS))).toEqual(["systemAdmin", "dba", "appTeam", "infraTeam", "emergency"]);
  });

  it("re-runs every step on each new run id, leaving the switch objects' inputs alone", async () => {
    const a = (await runProgram("rollback", undefined, "run-a")).recorder;
    const b = (await runProgram("rollback", undefined, "run-b")).recorder;
    for (const c of commands(a)) {
      expect(c.inputs.triggers, c.name).toContain("run-a");
      expect(b.byName(c.name).inputs.triggers).toContain("run-b");
    }
    expect(a.byName("rollback-nginx-upstream-switch").inputs.triggers[0]).toContain("upstream shop_db {");
    expect(b.byName("rollback-dns-weights-idc").inputs).toEqual(a.byName("rollback-dns-weights-idc").inputs);
  });

  it("runs the nginx steps over SSH when nginx is another host, from the project checkout there", async () => {
    const { recorder } = await runProgram("rollback", (c) => {
      c["rollback:nginx"].connection = { mode: "ssh", host: "nginx-1", port: 2222, user: "deploy", privateKey: "KEY", projectDir: "/opt/rollback" };
    });
    for (const name of ["rollback-maintenance-on", "rollback-nginx-upstream-switch", "rollback-maintenance-off"]) {
      const c = recorder.byName(name);
      expect(c.type).toBe("command:remote:Command");
      expect(c.inputs.create).toMatch(/^cd \/opt\/rollback && node dist\/scripts\/step\.js /);
      expect(unwrapSecrets(c.inputs.connection)).toMatchObject({ host: "nginx-1", port: 2222, user: "deploy", privateKey: "KEY" });
      expect(isWrappedSecret(c.inputs.connection)).toBe(true);
      expect(c.inputs.logging).toBe("none");
    }
    expect(recorder.byName("rollback-sync").type).toBe("command:local:Command");
  });

  it("passes the operator's choices to the scripts", async () => {
    const { recorder } = await runProgram("rollback", (c) => {
      Object.assign(c["rollback:runbook"], {
        tables: ["shop.orders", "shop.users"],
        exclude: ["shop.audit"],
        chunkSize: 5000,
        drainKill: true,
        maxShrinkPct: 10,
        allowShrink: ["shop.users"],
      });
    });
    const create = (n: string) => String(recorder.byName(`rollback-${n}`).inputs.create);
    expect(create("sync")).toContain("dist/scripts/sync.js --tables shop.orders,shop.users --exclude shop.audit --max-shrink-pct 10 --allow-shrink shop.users --json");
    expect(create("verify")).toContain("dist/scripts/verify.js --tables shop.orders,shop.users --exclude shop.audit --chunk-size 5000 --json");
    expect(create("drain")).toContain("dist/scripts/drain.js --timeout 120 --kill --json");
    expect(create("backup-check")).toContain("dist/scripts/backup.js verify /backups/shop/latest /backups/shop/previous --max-age-hours 24 --tables shop.orders,shop.users --json");
    expect(create("health")).toContain("dist/scripts/health.js --mysql --expect-writable --canary-table ops.rollback_canary --http https://shop.example.com/healthz --json");
    expect(create("maintenance-on")).toContain("dist/scripts/maintenance.js on --flag /var/www/maintenance/shop.flag --reason 'rollback to idc' --json");
    expect(create("nginx-upstream-switch")).toContain(
      "dist/scripts/switch-upstream.js --file /etc/nginx/stream.d/shop-db-upstream.conf --name shop_db --servers 10.20.0.15:3306 --kind stream --test-cmd 'sudo nginx -t' --reload-cmd 'sudo nginx -s reload' --probe-mysql 10.20.0.10:3306 --probe-timeout 10 --json",
    );
  });
});

describe("runbook.copyBack", () => {
  it("passes the default shrink limit to the sync and runs sync and verify when true (the default)", async () => {
    const { recorder, outputs } = await runProgram("rollback", (c) => delete c["rollback:runbook"].copyBack);
    expect(String(recorder.byName("rollback-sync").inputs.create)).toContain("dist/scripts/sync.js --max-shrink-pct 5 --json");
    expect(outputs.runbook).toContain("sync");
    expect(outputs.runbook).toContain("verify");
  });

  it("false: no sync or verify command is declared, diff still runs, the steps output says so", async () => {
    const { recorder, outputs } = await runProgram("rollback", (c) => (c["rollback:runbook"].copyBack = false));
    const creates = commands(recorder).map((c) => String(c.inputs.create));
    expect(creates.filter((c) => / scripts\/step\.ts (sync|verify) /.test(c))).toEqual([]);
    expect(creates.filter((c) => c.includes("dist/scripts/sync.js"))).toEqual([]);
    expect(creates.filter((c) => c.includes(" dist/scripts/step.js diff "))).toHaveLength(1);
    expect(outputs.runbook).not.toContain("sync");
    expect(outputs.runbook).not.toContain("verify");
    expect(outputs.runbook).toContain("diff");
  });
});

describe("a failed verification", () => {
  /**
   * Under mocks a failed create surfaces as the SDK's unhandled rejections, which the Pulumi
   * CLI prints as the run's error. They are collected here (instead of by vitest) and checked.
   */
  async function collectingRejections(run: () => Promise<void>): Promise<string[]> {
    const reasons: string[] = [];
    const saved = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", (e) => reasons.push(e instanceof Error ? e.message : String(e)));
    try {
      await run();
    } finally {
      process.removeAllListeners("unhandledRejection");
      for (const l of saved) process.on("unhandledRejection", l);
    }
    return reasons;
  }

  it("stops the run before any traffic moves", async () => {
    const recorder = await mockStack("rollback", stackFile("rollback"));
    recorder.failing = (r) => r.name === "rollback-verify";
    process.env.ROLLBACK_RUN_ID = "run-1";
    const reasons = await collectingRejections(async () => {
      vi.resetModules();
      await import("../../index.js");
      await recorder.settled();
    });
    expect(reasons.length).toBeGreaterThan(0);
    for (const r of reasons) expect(r).toContain("rollback-verify: create failed");
    const registered = recorder.resources.map((r) => r.name);
    expect(registered).toContain("rollback-sync");
    for (const moved of ["rollback-connection-secret-version", "rollback-nginx-upstream-switch", "rollback-dns-weights-idc", "rollback-dns-weights-aws", "rollback-maintenance-off", "rollback-rds-power"]) {
      expect(registered).not.toContain(moved);
    }
  });
});
