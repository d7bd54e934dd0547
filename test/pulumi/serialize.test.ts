import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeDBInstancesCommand, RDSClient, StopDBInstanceCommand } from "@aws-sdk/client-rds";
import { GetScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import * as pulumi from "@pulumi/pulumi";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./harness";

/**
 * Pulumi stores a dynamic provider in the state as the text `serializeFunction` makes of it,
 * and the engine later runs that text. This test does the same with the tsc-compiled providers
 * (the program Pulumi runs is tsc output; see Pulumi.yaml): serialize, load the text with a
 * require rooted at the project (as the provider host resolves it), and call it.
 */
const PROVIDERS = ["components/rdsPower/powerProvider", "components/rdsPower/guardProvider"];
let outDir: string;

beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), "rollback-tsc-"));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const flags = ["--ignoreConfig", "--outDir", outDir, "--rootDir", ROOT, "--module", "node16", "--moduleResolution", "node16", "--target", "ES2022", "--strict", "--esModuleInterop", "--skipLibCheck", "--types", "node"];
  execFileSync(process.execPath, [tsc, ...flags, ...PROVIDERS.map((p) => join(ROOT, `${p}.ts`))], { cwd: ROOT, stdio: "pipe" });
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/** Serializes `provider` as Pulumi's dynamic resources do, then loads the text back. */
async function roundTrip(provider: object): Promise<{ text: string; loaded: pulumi.dynamic.ResourceProvider }> {
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  const module = { exports: {} as Record<string, () => pulumi.dynamic.ResourceProvider> };
  new Function("exports", "require", "module", sf.text)(module.exports, createRequire(join(ROOT, "index.js")), module);
  return { text: sf.text, loaded: module.exports[sf.exportName]() };
}

function compiled(path: string): Record<string, any> {
  return createRequire(__filename)(join(outDir, `${path}.js`));
}

describe("the dynamic providers, compiled by tsc", () => {
  it("import the AWS SDK for types only, so the compiled module does not load it", () => {
    for (const p of PROVIDERS) {
      const js = readFileSync(join(outDir, `${p}.js`), "utf8");
      const topLevel = js.split("\n").filter((l) => /^(const|var|let) .*require\(/.test(l));
      expect(topLevel.join("\n"), p).not.toMatch(/@aws-sdk|@pulumi\/pulumi/);
    }
  });

  it("serialize the RDS power provider, which then stops an instance against a mocked RDS", async () => {
    const { text, loaded } = await roundTrip(compiled(PROVIDERS[0]).powerProvider);
    expect(text).toContain('require("@aws-sdk/client-rds")');
    const rds = mockClient(RDSClient);
    const sts = mockClient(STSClient);
    try {
      // The stack's assumed role travels with the serialized text (components/rdsPower/access.ts).
      sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAROLE", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date("2099-01-01") } });
      rds.on(DescribeDBInstancesCommand)
        .resolvesOnce({ DBInstances: [{ DBInstanceIdentifier: "shop-prod", Engine: "mysql", DBInstanceStatus: "available" }] })
        .resolves({ DBInstances: [{ DBInstanceIdentifier: "shop-prod", Engine: "mysql", DBInstanceStatus: "stopped" }] });
      rds.on(StopDBInstanceCommand).resolves({});
      const access = { assumeRoles: [{ roleArn: "arn:aws:iam::210987654321:role/rollback-deployer" }] };
      const inputs = { instanceId: "shop-prod", region: "ap-northeast-2", access, desiredState: "stopped", finalSnapshot: true, snapshotPrefix: "rollback-final", pollIntervalSeconds: 1, timeoutMinutes: 1, version: "1" };
      const created = await loaded.create(inputs);
      expect(created).toMatchObject({ id: "shop-prod", outs: { status: "stopped" } });
      expect(rds.commandCalls(StopDBInstanceCommand)[0].args[0].input.DBSnapshotIdentifier).toMatch(/^rollback-final-shop-prod-\d{8}t\d{6}z$/);
      expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input.RoleArn).toBe("arn:aws:iam::210987654321:role/rollback-deployer");
      expect(await (rds.commandCalls(StopDBInstanceCommand)[0].thisValue as RDSClient).config.credentials()).toMatchObject({ accessKeyId: "ASIAROLE" });

      // Errors keep their text through serialization (an Error subclass alone would not).
      rds.reset();
      rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: "shop-prod", Engine: "mysql", DBInstanceStatus: "modifying" }] });
      await expect(loaded.create(inputs)).rejects.toThrow(/^RDS_INVALID_STATE: shop-prod: is "modifying"; RDS can only stop an available instance/);
    } finally {
      rds.restore();
      sts.restore();
    }
  });

  it("serialize the stop-guard provider, whose diff then reads the schedule from a mocked Scheduler", async () => {
    const { text, loaded } = await roundTrip(compiled(PROVIDERS[1]).guardProvider);
    expect(text).toContain('require("@aws-sdk/client-scheduler")');
    const scheduler = mockClient(SchedulerClient);
    try {
      scheduler.on(GetScheduleCommand).resolves({ State: "DISABLED" });
      const news = { region: "ap-northeast-2", access: {}, scheduleName: "keep", groupName: "default", instanceId: "shop-prod", roleArn: "arn:aws:iam::1:role/r", scheduleExpression: "rate(1 day)", state: "ENABLED", version: "1" };
      expect(await loaded.diff!("default/keep", { ...news, observed: "ENABLED" }, news)).toMatchObject({ changes: true });
    } finally {
      scheduler.restore();
    }
  });
});
