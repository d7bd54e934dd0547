import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runContext, shellJoin, shellQuote, stepCommandLine } from "../../components/command-line";
import { STEP_PLANS, directionOf, planStep, runbookOrder } from "../../components/runbook/plan";
import { loadConfig } from "../../lib/config";
import { connectionValue } from "../../lib/connection-string";
import { FLIP, dnsWeights } from "../../lib/dns-weights";
import { parseDsn } from "../../lib/dsn";
import { STEPS } from "../../lib/runbook";
import { stackFile, useConfig } from "./harness";

describe("DNS weights", () => {
  it("send everything to the target in a one-shot flip, in both directions", () => {
    expect(dnsWeights("idc", { weightSteps: FLIP })).toEqual({ idc: 100, aws: 0 });
    expect(dnsWeights("aws", { weightSteps: FLIP })).toEqual({ idc: 0, aws: 100 });
  });

  it("follow the gradual plan step by step, the last step when none is given", () => {
    const weightSteps = [{ target: 10, source: 90 }, { target: 50, source: 50 }, { target: 255, source: 0 }];
    expect([1, 2, 3].map((step) => dnsWeights("idc", { weightSteps, step }))).toEqual([
      { idc: 10, aws: 90 },
      { idc: 50, aws: 50 },
      { idc: 255, aws: 0 },
    ]);
    expect(dnsWeights("aws", { weightSteps })).toEqual({ idc: 0, aws: 255 });
  });

  it("refuse weights Route53 would reject or misread, naming the step", () => {
    expect(() => dnsWeights("idc", { weightSteps: [{ target: 256, source: 0 }] }, "route53")).toThrow(/route53\.weightSteps\[0\]\.target: 256 is not an integer 0-255/);
    expect(() => dnsWeights("idc", { weightSteps: [{ target: 1.5, source: 0 }] })).toThrow(/not an integer/);
    expect(() => dnsWeights("idc", { weightSteps: [{ target: 5, source: 5 }, { target: 0, source: 0 }] })).toThrow(/weightSteps\[1\]: both weights are 0/);
    expect(() => dnsWeights("idc", { weightSteps: [] })).toThrow(/has no steps/);
    expect(() => dnsWeights("idc", { weightSteps: FLIP, step: 0 })).toThrow(/step: 0 is not a step/);
  });
});

describe("the app's connection value", () => {
  const endpoint = { host: "10.20.0.15", port: 3306, database: "shop", user: "app" };

  it("is the RDS secret shape in json, with the pool settings next to it", () => {
    expect(JSON.parse(connectionValue("json", endpoint, "p'w\"d", { connectionLimit: 20 }))).toEqual({
      engine: "mysql",
      host: "10.20.0.15",
      port: 3306,
      username: "app",
      password: "p'w\"d",
      dbname: "shop",
      connectionLimit: 20,
    });
  });

  it("is a mysql:// URL that parses back to the same endpoint and password, extras as query", () => {
    const url = connectionValue("url", endpoint, "a/b?c#d@e:f", { connectTimeout: 10000 });
    expect(url).toMatch(/\?connectTimeout=10000$/);
    expect(parseDsn(url.split("?")[0], "APP")).toEqual({ ...endpoint, password: "a/b?c#d@e:f" });
  });
});

describe("the runbook's order", () => {
  it("is lib/runbook.ts STEPS for the rollback", () => {
    expect(runbookOrder("idc")).toEqual(STEPS.map((s) => s.id));
  });

  it("starts RDS first for the cutover (after preflight, which changes nothing), and keeps every other step in place", () => {
    const order = runbookOrder("aws");
    expect(order.slice(0, 2)).toEqual(["preflight", "rds-power"]);
    expect(order.slice(2)).toEqual(STEPS.map((s) => s.id).filter((id) => id !== "rds-power" && id !== "preflight"));
  });

  it("reads from the side being left and writes to the side going live", () => {
    expect(directionOf("idc")).toEqual({ target: "idc", source: "aws" });
    expect(directionOf("aws")).toEqual({ target: "aws", source: "idc" });
  });
});

describe("the step → plan table", () => {
  it("has one plan per step, a plain command exactly where lib/runbook.ts names a script run by no component", () => {
    expect(Object.keys(STEP_PLANS).sort()).toEqual(STEPS.map((s) => s.id).sort());
    useConfig(stackFile("rollback"));
    const config = loadConfig();
    const kinds = Object.fromEntries(STEPS.map((s) => [s.id, planStep(s.id, config).kind]));
    expect(kinds).toEqual({
      preflight: "preflight",
      "maintenance-on": "command",
      fence: "command",
      drain: "command",
      "idc-health": "idc-health",
      "backup-check": "command",
      diff: "command",
      sync: "command",
      verify: "command",
      "proof-check": "command",
      unfence: "command",
      "connection-secret": "connection-secret",
      "nginx-upstream": "nginx-upstream",
      health: "command",
      "dns-weights": "dns-weights",
      "maintenance-off": "command",
      settle: "command",
      "rds-power": "rds-power",
      report: "report",
    });
    for (const s of STEPS) if (kinds[s.id] === "command") expect(s.script, s.id).toBeDefined();
  });

  it("plans the same steps toward the other side for the cutover", () => {
    useConfig(stackFile("cutover"));
    const config = loadConfig();
    expect(planStep("rds-power", config)).toMatchObject({ kind: "rds-power", args: { desiredState: "available" } });
    expect(planStep("nginx-upstream", config)).toMatchObject({ args: { servers: config.nginx.awsServers } });
    expect(planStep("dns-weights", config)).toMatchObject({ args: { target: "aws" } });
  });
});

describe("command lines", () => {
  const sh = (line: string) => execFileSync("/bin/sh", ["-c", line]).toString();

  it("quote words so that /bin/sh passes them through unchanged", () => {
    const words = ["plain", "with space", "it's", '"double"', "$HOME", "`id`", "a;b|c&d", "*", "", "tab\there", "ünïcode"];
    expect(sh(`printf '%s\\n' ${shellJoin(words)}`)).toBe(words.map((w) => `${w}\n`).join(""));
    expect(shellQuote("scripts/verify.ts")).toBe("scripts/verify.ts");
    expect(shellQuote(3306)).toBe("3306");
  });

  it("wrap a step's compiled script in dist/scripts/step.js with the run's timeline and accepted exit codes", () => {
    const run = runContext("/srv/rollback", ".rollback", "gh-42-1");
    expect(run).toEqual({ runId: "gh-42-1", projectDir: "/srv/rollback", timelineFile: ".rollback/gh-42-1/timeline.jsonl", reportDir: ".rollback/gh-42-1" });
    expect(stepCommandLine("diff", run, ["--tables", "a,b", "--json"], [0, 1])).toBe(
      "node dist/scripts/step.js diff --timeline .rollback/gh-42-1/timeline.jsonl --ok-codes 0,1 --log .rollback/gh-42-1/diff.log -- node dist/scripts/verify.js --tables a,b --json",
    );
    expect(stepCommandLine("maintenance-on", run, ["on", "--reason", "rollback to idc"])).toMatch(/-- node dist\/scripts\/maintenance\.js on --reason 'rollback to idc'$/);
  });

  it("refuse a step that has no script", () => {
    expect(() => stepCommandLine("dns-weights", runContext("/srv/rollback", ".rollback", "r"), [])).toThrow(/has no script/);
  });
});
