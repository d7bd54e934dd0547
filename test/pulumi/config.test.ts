import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { CONFIG_KEYS, loadConfig, resolveRunId } from "../../lib/config";
import { RollbackError } from "../../lib/errors";
import { ROOT, SECRETS, mockStack, promiseOf, stackFile, useConfig } from "./harness";

type Json = Record<string, any>;

/** Loads the rollback stack's config after `edit`, and returns the error it fails with. */
function failureOf(edit: (c: Json) => void): RollbackError {
  const config = stackFile("rollback");
  edit(config);
  useConfig(config);
  try {
    loadConfig();
  } catch (e) {
    expect(e).toBeInstanceOf(RollbackError);
    return e as RollbackError;
  }
  throw new Error("the config was accepted");
}

describe("stack config", () => {
  it("loads both stack files, typed, with the plan's defaults filled in", () => {
    useConfig(stackFile("rollback"));
    const c = loadConfig();
    expect(c.target).toBe("idc");
    expect(c.rds.region).toBe("ap-northeast-2"); // from aws:region
    expect(c.thresholds).toEqual({ maxLostRows: 0, maxMismatchPct: 1, maxPerformanceDegradationPct: 30, maxOutageMin: 10, maxErrorRatePct: 5 });
    expect(c.idcMysql).toEqual({ dockerHost: "ssh://deploy@10.20.0.15", containerName: "shop-mysql", waitTimeoutSeconds: 300, restartIfUnhealthy: true });
    expect(c.route53.weightSteps).toEqual([{ target: 100, source: 0 }]);
    useConfig(stackFile("cutover"));
    expect(loadConfig().target).toBe("aws");
  });

  it("turns every secret leaf into a secret Output, never a plain string", async () => {
    useConfig(stackFile("rollback"));
    const c = loadConfig();
    for (const secret of [c.idc.password, c.aws.password, c.notifications.webhookUrl!]) {
      expect(pulumi.Output.isInstance(secret)).toBe(true);
      expect(await pulumi.isSecret(secret)).toBe(true);
    }
    expect(await promiseOf(c.aws.password)).toBe(SECRETS["aws.password"]);
  });

  it("keeps the two stack files identical except for the target, so both write the same shared objects", () => {
    const [rollback, cutover] = (["rollback", "cutover"] as const).map((s) => {
      const c = stackFile(s);
      delete c["rollback:target"];
      return c;
    });
    expect(cutover).toEqual(rollback);
  });

  it("declares every project key in Pulumi.yaml with a description, and nothing else", () => {
    const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8"));
    expect(project.name).toBe("rollback");
    expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const [key, decl] of Object.entries<Json>(project.config)) {
      expect(decl.description, key).toMatch(/.{20,}/);
      if (decl.type) expect(["string", "integer", "boolean", "array"]).toContain(decl.type);
    }
  });

  it("uses only keys that Pulumi.yaml declares in the stack files", () => {
    const declared = Object.keys(parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")).config);
    for (const stack of ["rollback", "cutover"] as const) {
      const keys = Object.keys(parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")).config).filter((k) => k.startsWith("rollback:"));
      for (const k of keys) expect(declared).toContain(k.slice("rollback:".length));
    }
  });
});

describe("bad config is refused with one message that names the key", () => {
  const cases: [string, (c: Json) => void, string, RegExp][] = [
    ["an unknown target", (c) => (c["rollback:target"] = "prod"), "rollback:target", /must be one of "idc", "aws" \(got "prod"\)/],
    ["a missing target", (c) => delete c["rollback:target"], "rollback:target", /is required/],
    ["a weight above 255", (c) => (c["rollback:route53"].weightSteps = [{ target: 300, source: 0 }]), "rollback:route53.weightSteps[0].target", /not an integer 0-255/],
    ["a negative weight", (c) => (c["rollback:route53"].weightSteps = [{ target: 100, source: -1 }]), "rollback:route53.weightSteps[0].source", /not an integer 0-255/],
    ["weights that are all zero", (c) => (c["rollback:route53"].weightSteps = [{ target: 0, source: 0 }]), "rollback:route53.weightSteps[0]", /equal split/],
    ["a step beyond the weight plan", (c) => (c["rollback:route53"].step = 3), "rollback:route53.step", /not a step of weightSteps \(1-1\)/],
    ["a missing secret", (c) => delete c["rollback:idc"].password, "rollback:idc.password", /is required \(pulumi config set --secret --path 'idc.password'/],
    ["a server without a port", (c) => (c["rollback:nginx"].idcServers = ["10.20.0.15"]), "rollback:nginx.idcServers[0]", /is not host:port/],
    ["a port out of range", (c) => (c["rollback:nginx"].awsServers = ["db.example.com:70000"]), "rollback:nginx.awsServers[0]", /outside 1-65535/],
    ["an unknown upstream kind", (c) => (c["rollback:nginx"].kind = "tcp"), "rollback:nginx.kind", /must be one of "http", "stream"/],
    ["a negative drain timeout", (c) => (c["rollback:runbook"].drainTimeoutSeconds = -5), "rollback:runbook.drainTimeoutSeconds", /must be >= 0/],
    ["a misspelt field", (c) => (c["rollback:nginx"].upstream_name = "x"), "rollback:nginx.upstream_name", /is not a known key/],
    ["a misspelt project key", (c) => (c["rollback:tagret"] = "idc"), "rollback:tagret", /is not a key of this project/],
    ["a stop guard without its role", (c) => delete c["rollback:rds"].stopGuard.roleArn, "rollback:rds.stopGuard.roleArn", /required when the stop guard is enabled/],
    ["an invalid RDS identifier", (c) => (c["rollback:rds"].instanceId = "shop--prod"), "rollback:rds.instanceId", /RDS identifier/],
    ["a zone name instead of a zone id", (c) => (c["rollback:route53"].zoneId = "example.com"), "rollback:route53.zoneId", /hosted zone id/],
    ["SSH without any credential", (c) => (c["rollback:nginx"].connection = { mode: "ssh", host: "nginx-1", user: "deploy", projectDir: "/opt/rollback" }), "rollback:nginx.connection.privateKey", /needs privateKey or password/],
    ["an unknown connection mode", (c) => (c["rollback:nginx"].connection = { mode: "telnet" }), "rollback:nginx.connection.mode", /must be "local" or "ssh"/],
    ["a stream upstream without its MySQL probe", (c) => delete c["rollback:nginx"].probe.mysql, "rollback:nginx.probe.mysql", /needs probe.mysql/],
    ["an http upstream without a probe expectation", (c) => Object.assign(c["rollback:nginx"], { kind: "http", probe: { url: "http://127.0.0.1/whoami" } }), "rollback:nginx.probe.expect", /needs probe.expect/],
    ["an http probe expectation that is neither header nor body", (c) => Object.assign(c["rollback:nginx"], { kind: "http", probe: { url: "http://127.0.0.1/whoami", expect: "idc" } }), "rollback:nginx.probe.expect", /header:NAME=VALUE or body:TEXT/],
    ["a stream probe over SSH without a credentials file", (c) => {
      c["rollback:nginx"].connection = { mode: "ssh", host: "nginx-1", user: "deploy", privateKey: "KEY", projectDir: "/opt/rollback" };
      delete c["rollback:nginx"].probe.credentialsFile;
    }, "rollback:nginx.probe.credentialsFile", /sshd refuses Setenv/],
    ["a docker host that is not a URL", (c) => (c["rollback:idcMysql"].dockerHost = "10.20.0.15"), "rollback:idcMysql.dockerHost", /docker host URL/],
    ["no backup to check", (c) => (c["rollback:runbook"].backupPaths = []), "rollback:runbook.backupPaths", /at least 1 item/],
    ["an object key given as text", (c) => (c["rollback:idc"] = "10.20.0.15"), "rollback:idc", /must be an object/],
    ["a CNAME with two values", (c) => (c["rollback:route53"].aws.records = ["a.example.com", "b.example.com"]), "rollback:route53.aws.records", /exactly one value/],
    ["the same set identifier twice", (c) => (c["rollback:route53"].aws.setIdentifier = "idc"), "rollback:route53.idc.setIdentifier", /must differ/],
    ["a missing contact", (c) => delete c["rollback:contacts"].dba, "rollback:contacts.dba", /is required/],
    ["a mismatch threshold above 100 %", (c) => (c["rollback:thresholds"] = { maxMismatchPct: 150 }), "rollback:thresholds.maxMismatchPct", /must be <= 100/],
    ["a relative nginx file", (c) => (c["rollback:nginx"].file = "conf.d/upstream.conf"), "rollback:nginx.file", /absolute path/],
    ["a port given as text", (c) => (c["rollback:idc"].port = "3306"), "rollback:idc.port", /must be a number/],
    ["no region anywhere", (c) => delete c["aws:region"], "rollback:rds.region", /required when aws:region is not set/],
    ["a table name with SQL in it", (c) => (c["rollback:runbook"].tables = ["orders; DROP TABLE x"]), "rollback:runbook.tables[0]", /must be a table name/],
    ["a shrink limit above 100 %", (c) => (c["rollback:runbook"].maxShrinkPct = 150), "rollback:runbook.maxShrinkPct", /must be <= 100/],
    ["copyBack given as text", (c) => (c["rollback:runbook"].copyBack = "no"), "rollback:runbook.copyBack", /must be a boolean/],
    [
      "copyBack false on the cutover stack",
      (c) => Object.assign(c, { "rollback:target": "aws" }, { "rollback:runbook": { ...c["rollback:runbook"], copyBack: false } }),
      "rollback:runbook.copyBack",
      /the cut-over is what loads AWS/,
    ],
    [
      "a shrink exemption for a table the sync never writes",
      (c) => Object.assign(c["rollback:runbook"], { tables: ["shop.orders"], allowShrink: ["shop.users"] }),
      "rollback:runbook.allowShrink[0]",
      /"shop.users" is not in runbook.tables/,
    ],
    ["a fence without an account", (c) => (c["rollback:runbook"].fence.users = []), "rollback:runbook.fence.users", /at least 1 item/],
    ["a fence of the runbook's own account", (c) => (c["rollback:runbook"].fence.users = ["shop_app", "rollback@%"]), "rollback:runbook.fence.users[1]", /is the runbook's own account \(idc.user, aws.user\): the fence would lock the runbook out/],
    ["a fence account with a comma", (c) => (c["rollback:runbook"].fence.users = ["a,b"]), "rollback:runbook.fence.users[0]", /must be an account name or name@host/],
    ["an unknown fence method", (c) => (c["rollback:runbook"].fence.method = "lock"), "rollback:runbook.fence.method", /account-lock/],
    ["no fence at all", (c) => delete c["rollback:runbook"].fence, "rollback:runbook.fence", /object/],
    ["a shrink exemption for an excluded table", (c) => Object.assign(c["rollback:runbook"], { exclude: ["shop.audit"], allowShrink: ["shop.audit"] }), "rollback:runbook.allowShrink[0]", /is excluded/],
  ];

  it.each(cases)("%s", (_what, edit, subject, problem) => {
    const e = failureOf(edit);
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.subject).toBe(subject);
    expect(e.message).toMatch(problem);
    for (const secret of Object.values(SECRETS)) expect(e.message).not.toContain(secret);
  });

  it("names the first problem and counts the others", () => {
    const e = failureOf((c) => {
      c["rollback:nginx"].kind = "tcp";
      c["rollback:runbook"].drainTimeoutSeconds = -1;
    });
    expect(e.subject).toBe("rollback:nginx.kind");
    expect(e.message).toContain("1 more: rollback:runbook.drainTimeoutSeconds");
  });

  it("refuses a run id that cannot name a folder", () => {
    const ctx = { dryRun: false, handOver: "/nonexistent/next-run-id" };
    expect(() => resolveRunId({ ROLLBACK_RUN_ID: "../../etc" }, ctx)).toThrow(/ROLLBACK_RUN_ID: must be/);
    expect(resolveRunId({ ROLLBACK_RUN_ID: "gh-1234-1" }, ctx)).toBe("gh-1234-1");
    expect(resolveRunId({}, { ...ctx, now: () => new Date("2024-06-01T10:30:00.000Z") })).toBe("2024-06-01T10-30-00-000Z");
  });

  it("stops the program before any resource is registered, with a one-line error", async () => {
    const config = stackFile("rollback");
    config["rollback:route53"].weightSteps = [{ target: 0, source: 0 }];
    const recorder = await mockStack("rollback", config);
    vi.resetModules();
    const failure = await import("../../index.js").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(pulumi.RunError.isInstance(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/^CONFIG_INVALID: rollback:route53\.weightSteps\[0\]: /);
    await recorder.settled();
    expect(recorder.resources).toEqual([]);
  });
});
