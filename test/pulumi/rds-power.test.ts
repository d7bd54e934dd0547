import {
  DBSnapshotAlreadyExistsFault,
  DescribeDBInstancesCommand,
  type DBInstance,
  InvalidDBInstanceStateFault,
  DBInstanceNotFoundFault,
  RDSClient,
  StartDBInstanceCommand,
  StopDBInstanceCommand,
} from "@aws-sdk/client-rds";
import {
  CreateScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GuardInputs, STOP_TARGET_ARN, applyGuard, guardProvider } from "../../components/rdsPower/guardProvider";
import { type Clock, type PowerInputs, applyPowerState, planPower, powerProvider, snapshotIdFor } from "../../components/rdsPower/powerProvider";
import { RollbackError } from "../../lib/errors";

const rds = mockClient(RDSClient);
const scheduler = mockClient(SchedulerClient);
const sts = mockClient(STSClient);
beforeEach(() => {
  rds.reset();
  scheduler.reset();
  sts.reset();
});
afterEach(() => {
  rds.reset();
  scheduler.reset();
  sts.reset();
});

const INPUTS: PowerInputs = {
  instanceId: "shop-prod",
  region: "ap-northeast-2",
  access: {},
  desiredState: "stopped",
  finalSnapshot: true,
  snapshotPrefix: "rollback-final",
  pollIntervalSeconds: 30,
  timeoutMinutes: 60,
  version: "1",
};

/** A clock whose sleep returns at once and moves time forward, recording what was slept. */
function fakeClock(start = "2024-06-01T10:30:00.000Z"): Clock & { slept: number[] } {
  let now = new Date(start).getTime();
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(now),
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

function instance(status: string, extra: Partial<DBInstance> = {}): { DBInstances: DBInstance[] } {
  return { DBInstances: [{ DBInstanceIdentifier: "shop-prod", Engine: "mysql", DBInstanceStatus: status, ReadReplicaDBInstanceIdentifiers: [], ...extra }] };
}

/** Describe answers, in order; the last one repeats. */
function statuses(...list: (string | { DBInstances: DBInstance[] })[]): void {
  const describe = rds.on(DescribeDBInstancesCommand);
  list.forEach((s, i) => {
    const answer = typeof s === "string" ? instance(s) : s;
    if (i === list.length - 1) describe.resolves(answer);
    else describe.resolvesOnce(answer);
  });
}

async function failureOf(p: Promise<unknown>): Promise<RollbackError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RollbackError);
  return e as RollbackError;
}

const client = () => new RDSClient({ region: "ap-northeast-2" });

describe("planning a power change from the current status", () => {
  it.each([
    ["available", "stopped", ["stop", "wait-stopped"]],
    ["stopping", "stopped", ["wait-stopped"]],
    ["stopped", "stopped", []],
    ["starting", "stopped", ["wait-available", "stop", "wait-stopped"]],
    ["stopped", "available", ["start", "wait-available"]],
    ["starting", "available", ["wait-available"]],
    ["available", "available", []],
    ["stopping", "available", ["wait-stopped", "start", "wait-available"]],
  ] as const)("%s → %s: %j", (status, desired, plan) => {
    expect(planPower(status, desired, "db")).toEqual(plan);
  });

  it("refuses a status from which RDS can neither stop nor start, naming it", () => {
    expect(() => planPower("modifying", "stopped", "shop-prod")).toThrow(/RDS_INVALID_STATE: shop-prod: is "modifying"/);
  });
});

describe("stopping RDS", () => {
  it("stops an available instance with a unique final snapshot and polls until it is stopped", async () => {
    statuses("available", "stopping", "stopping", "stopped");
    rds.on(StopDBInstanceCommand).resolves({});
    const clock = fakeClock();
    const out = await applyPowerState(client(), INPUTS, clock);
    expect(out).toMatchObject({ status: "stopped", snapshotId: "rollback-final-shop-prod-20240601t103000z" });
    expect(rds.commandCalls(StopDBInstanceCommand).map((c) => c.args[0].input)).toEqual([
      { DBInstanceIdentifier: "shop-prod", DBSnapshotIdentifier: "rollback-final-shop-prod-20240601t103000z" },
    ]);
    expect(clock.slept).toEqual([30_000, 30_000]);
  });

  it("does nothing to an instance that is already stopped", async () => {
    statuses("stopped");
    const out = await applyPowerState(client(), INPUTS, fakeClock());
    expect(out).toMatchObject({ status: "stopped", snapshotId: null });
    expect(rds.commandCalls(StopDBInstanceCommand)).toHaveLength(0);
  });

  it("takes no snapshot when told not to", async () => {
    statuses("available", "stopped");
    rds.on(StopDBInstanceCommand).resolves({});
    await applyPowerState(client(), { ...INPUTS, finalSnapshot: false }, fakeClock());
    expect(rds.commandCalls(StopDBInstanceCommand)[0].args[0].input).toEqual({ DBInstanceIdentifier: "shop-prod", DBSnapshotIdentifier: undefined });
  });

  it("picks the next snapshot id when the first one is taken", async () => {
    statuses("available", "stopped");
    rds.on(StopDBInstanceCommand).rejectsOnce(new DBSnapshotAlreadyExistsFault({ message: "exists", $metadata: {} })).resolves({});
    const out = await applyPowerState(client(), INPUTS, fakeClock());
    expect(out.snapshotId).toBe("rollback-final-shop-prod-20240601t103000z-2");
    expect(rds.commandCalls(StopDBInstanceCommand)).toHaveLength(2);
  });

  it("gives up with the snapshot id named when every candidate id is taken", async () => {
    statuses("available");
    rds.on(StopDBInstanceCommand).rejects(new DBSnapshotAlreadyExistsFault({ message: "exists", $metadata: {} }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.code).toBe("RDS_SNAPSHOT_EXISTS");
    expect(e.subject).toBe("rollback-final-shop-prod-20240601t103000z-3");
    expect(e.hint).toMatch(/snapshotPrefix/);
  });

  it("refuses an instance with read replicas before calling StopDBInstance", async () => {
    statuses(instance("available", { ReadReplicaDBInstanceIdentifiers: ["shop-replica-1"] }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.message).toMatch(/RDS_HAS_REPLICAS: shop-prod: has read replicas \(shop-replica-1\)/);
    expect(rds.commandCalls(StopDBInstanceCommand)).toHaveLength(0);
  });

  it("refuses an instance that is itself a read replica", async () => {
    statuses(instance("available", { ReadReplicaSourceDBInstanceIdentifier: "shop-primary" }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.message).toMatch(/is a read replica of shop-primary/);
  });

  it("refuses an Aurora member, which stops per cluster", async () => {
    statuses(instance("available", { Engine: "aurora-mysql", DBClusterIdentifier: "shop-cluster" }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.code).toBe("RDS_AURORA");
    expect(e.message).toMatch(/StopDBCluster/);
  });

  it("explains AWS's InvalidDBInstanceState when the instance changed under it", async () => {
    statuses("available");
    rds.on(StopDBInstanceCommand).rejects(new InvalidDBInstanceStateFault({ message: "Instance shop-prod is not in available state.", $metadata: {} }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.message).toMatch(/RDS_INVALID_STATE: shop-prod: AWS refused: Instance shop-prod is not in available state\. \(wait until/);
  });

  it("names a missing instance and the keys to check", async () => {
    rds.on(DescribeDBInstancesCommand).rejects(new DBInstanceNotFoundFault({ message: "not found", $metadata: {} }));
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.message).toMatch(/RDS_NOT_FOUND: shop-prod: .*rds\.instanceId and rds\.region/);
  });

  it("stops waiting after the timeout, saying the operation continues in AWS", async () => {
    statuses("available", "stopping");
    rds.on(StopDBInstanceCommand).resolves({});
    const clock = fakeClock();
    const e = await failureOf(applyPowerState(client(), { ...INPUTS, timeoutMinutes: 2, pollIntervalSeconds: 30 }, clock));
    expect(e.message).toMatch(/RDS_TIMEOUT: shop-prod: still "stopping" after 2 min/);
    expect(clock.slept).toEqual([30_000, 30_000, 30_000, 30_000]);
  });

  it("fails at once when the instance goes somewhere else while it waits", async () => {
    statuses("available", "stopping", "storage-full");
    rds.on(StopDBInstanceCommand).resolves({});
    const e = await failureOf(applyPowerState(client(), INPUTS, fakeClock()));
    expect(e.message).toMatch(/RDS_UNEXPECTED_STATE: shop-prod: went to "storage-full" while waiting for "stopped"/);
  });
});

describe("starting RDS (the cutover)", () => {
  const START: PowerInputs = { ...INPUTS, desiredState: "available" };

  it("starts a stopped instance and polls until it is available", async () => {
    statuses("stopped", "starting", "available");
    rds.on(StartDBInstanceCommand).resolves({});
    const clock = fakeClock();
    expect(await applyPowerState(client(), START, clock)).toMatchObject({ status: "available", snapshotId: null });
    expect(rds.commandCalls(StartDBInstanceCommand)[0].args[0].input).toEqual({ DBInstanceIdentifier: "shop-prod" });
    expect(clock.slept).toEqual([30_000]);
  });

  it("waits for a stop in progress to finish before starting", async () => {
    statuses("stopping", "stopped", "stopped", "available");
    rds.on(StartDBInstanceCommand).resolves({});
    await applyPowerState(client(), START, fakeClock());
    expect(rds.commandCalls(StartDBInstanceCommand)).toHaveLength(1);
  });

  it("starts an instance that has read replicas (only stopping is refused)", async () => {
    statuses(instance("stopped", { ReadReplicaDBInstanceIdentifiers: ["r1"] }), "available");
    rds.on(StartDBInstanceCommand).resolves({});
    await expect(applyPowerState(client(), START, fakeClock())).resolves.toMatchObject({ status: "available" });
  });
});

describe("the power provider", () => {
  it("asks AWS in diff, so preview shows an instance the other stack (or RDS after 7 days) started", async () => {
    statuses("available");
    expect(await powerProvider.diff!("shop-prod", { ...INPUTS, status: "stopped", snapshotId: null }, INPUTS)).toMatchObject({ changes: true });
    rds.reset();
    statuses("stopped");
    expect(await powerProvider.diff!("shop-prod", { ...INPUTS, status: "stopped", snapshotId: null }, INPUTS)).toMatchObject({ changes: false });
    expect(await powerProvider.diff!("shop-prod", { ...INPUTS, status: "stopped", snapshotId: null }, { ...INPUTS, version: "2" })).toMatchObject({ changes: true });
  });

  it("creates with its own SDK client, keyed by the instance id, and has no delete", async () => {
    statuses("available", "stopped");
    rds.on(StopDBInstanceCommand).resolves({});
    const created = await powerProvider.create(INPUTS);
    expect(created.id).toBe("shop-prod");
    expect(created.outs).toMatchObject({ status: "stopped", desiredState: "stopped" });
    expect(powerProvider.delete).toBeUndefined();
  });
});

describe("snapshot ids", () => {
  it("are valid RDS identifiers and unique per second and attempt", () => {
    const at = new Date("2024-12-31T23:59:59.999Z");
    expect(snapshotIdFor("rollback-final", "shop-prod", at, 1)).toBe("rollback-final-shop-prod-20241231t235959z");
    expect(snapshotIdFor("rollback-final", "shop-prod", at, 3)).toBe("rollback-final-shop-prod-20241231t235959z-3");
    expect(snapshotIdFor("rollback-final", "shop-prod", at, 1)).toMatch(/^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/);
  });
});

const GUARD: GuardInputs = {
  region: "ap-northeast-2",
  access: {},
  scheduleName: "keep-shop-prod-stopped",
  groupName: "default",
  instanceId: "shop-prod",
  roleArn: "arn:aws:iam::123456789012:role/rollback-rds-stop-guard",
  scheduleExpression: "rate(1 day)",
  state: "ENABLED",
  version: "1",
};

describe("the stop guard", () => {
  const sclient = () => new SchedulerClient({ region: "ap-northeast-2" });
  const notFound = () => new ResourceNotFoundException({ message: "Schedule not found", Message: "Schedule not found", $metadata: {} });

  it("creates the schedule calling rds:stopDBInstance with the SDK's DbInstanceIdentifier casing", async () => {
    scheduler.on(GetScheduleCommand).rejects(notFound());
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: "arn:x" });
    expect(await applyGuard(sclient(), GUARD)).toMatchObject({ observed: "ENABLED" });
    const input = scheduler.commandCalls(CreateScheduleCommand)[0].args[0].input;
    expect(input).toMatchObject({ Name: "keep-shop-prod-stopped", GroupName: "default", ScheduleExpression: "rate(1 day)", State: "ENABLED", FlexibleTimeWindow: { Mode: "OFF" } });
    expect(input.Target).toEqual({
      Arn: STOP_TARGET_ARN,
      RoleArn: GUARD.roleArn,
      Input: '{"DbInstanceIdentifier":"shop-prod"}',
      RetryPolicy: { MaximumRetryAttempts: 0 },
    });
    expect(STOP_TARGET_ARN).toBe("arn:aws:scheduler:::aws-sdk:rds:stopDBInstance");
  });

  it("re-enables the schedule the other stack disabled, by update (no ConflictException)", async () => {
    scheduler.on(GetScheduleCommand).resolves({ Name: GUARD.scheduleName, State: "DISABLED" });
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: "arn:x" });
    await applyGuard(sclient(), GUARD);
    expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(0);
    expect(scheduler.commandCalls(UpdateScheduleCommand)[0].args[0].input.State).toBe("ENABLED");
  });

  it("disables it for the cutover, keeping its definition", async () => {
    const target = { Arn: STOP_TARGET_ARN, RoleArn: "arn:aws:iam::123456789012:role/other", Input: '{"DbInstanceIdentifier":"shop-prod"}' };
    scheduler.on(GetScheduleCommand).resolves({ Name: GUARD.scheduleName, State: "ENABLED", ScheduleExpression: "rate(12 hours)", FlexibleTimeWindow: { Mode: "OFF" }, Target: target });
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: "arn:x" });
    expect(await applyGuard(sclient(), { ...GUARD, state: "DISABLED" })).toMatchObject({ observed: "DISABLED" });
    expect(scheduler.commandCalls(UpdateScheduleCommand)[0].args[0].input).toMatchObject({ State: "DISABLED", ScheduleExpression: "rate(12 hours)", Target: target });
  });

  it("has nothing to disable when the rollback never created it", async () => {
    scheduler.on(GetScheduleCommand).rejects(notFound());
    expect(await applyGuard(sclient(), { ...GUARD, state: "DISABLED" })).toMatchObject({ observed: "ABSENT" });
    expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it("asks AWS in diff, so the other stack's flip shows in preview", async () => {
    scheduler.on(GetScheduleCommand).resolves({ State: "DISABLED" });
    const olds = { ...GUARD, observed: "ENABLED" as const };
    expect(await guardProvider.diff!("default/keep", olds, GUARD)).toMatchObject({ changes: true });
    expect(await guardProvider.diff!("default/keep", olds, { ...GUARD, state: "DISABLED" })).toMatchObject({ changes: true });
    scheduler.reset();
    scheduler.on(GetScheduleCommand).resolves({ State: "ENABLED" });
    expect(await guardProvider.diff!("default/keep", olds, GUARD)).toMatchObject({ changes: false });
  });
});

describe("the providers' AWS account (issue 13, item 8)", () => {
  const ROLE = "arn:aws:iam::210987654321:role/rollback-deployer";
  const roleCredentials = () =>
    sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAROLE", SecretAccessKey: "role-secret", SessionToken: "role-token", Expiration: new Date("2099-01-01T00:00:00Z") } });
  const configOf = async (client: { config: { region: () => Promise<string>; credentials: () => Promise<{ accessKeyId: string; sessionToken?: string }> } }) => ({
    region: await client.config.region(),
    credentials: await client.config.credentials(),
  });

  it("stops RDS with the stack's assumed role and region, not the runner's default credentials", async () => {
    roleCredentials();
    rds.on(DescribeDBInstancesCommand).resolves(instance("stopped"));
    const access = { profile: "prod", assumeRoles: [{ roleArn: ROLE, sessionName: "rollback", externalId: "ext-1" }] };
    await powerProvider.create({ ...INPUTS, region: "eu-west-1", access });
    expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input).toEqual({ RoleArn: ROLE, RoleSessionName: "rollback", ExternalId: "ext-1" });
    const used = await configOf(rds.commandCalls(DescribeDBInstancesCommand)[0].thisValue as never);
    expect(used.region).toBe("eu-west-1");
    expect(used.credentials).toMatchObject({ accessKeyId: "ASIAROLE", sessionToken: "role-token" });
    // The first hop authenticates with the stack's profile.
    expect(await (sts.commandCalls(AssumeRoleCommand)[0].thisValue as STSClient).config.profile).toBe("prod");
  });

  it("chains aws:assumeRoles in order, each with the previous role's credentials", async () => {
    sts.on(AssumeRoleCommand, { RoleArn: "arn:aws:iam::1:role/a" }).resolves({ Credentials: { AccessKeyId: "ASIAA", SecretAccessKey: "a", SessionToken: "ta", Expiration: new Date("2099-01-01") } });
    sts.on(AssumeRoleCommand, { RoleArn: ROLE }).resolves({ Credentials: { AccessKeyId: "ASIAB", SecretAccessKey: "b", SessionToken: "tb", Expiration: new Date("2099-01-01") } });
    scheduler.on(GetScheduleCommand).resolves({ State: "ENABLED" });
    const access = { assumeRoles: [{ roleArn: "arn:aws:iam::1:role/a" }, { roleArn: ROLE }] };
    await guardProvider.diff!("default/keep", { ...GUARD_FOR_ACCESS, access, observed: "ENABLED" }, { ...GUARD_FOR_ACCESS, access });
    const [, second] = sts.commandCalls(AssumeRoleCommand);
    expect((await configOf(second.thisValue as never)).credentials).toMatchObject({ accessKeyId: "ASIAA" });
    expect((await configOf(scheduler.commandCalls(GetScheduleCommand)[0].thisValue as never)).credentials).toMatchObject({ accessKeyId: "ASIAB" });
  });

  it("uses the runner's default credentials chain when the stack sets neither profile nor roles", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance("stopped"));
    await powerProvider.create(INPUTS);
    expect(sts.commandCalls(AssumeRoleCommand)).toEqual([]);
    expect(await (rds.commandCalls(DescribeDBInstancesCommand)[0].thisValue as RDSClient).config.region()).toBe("ap-northeast-2");
  });
});

const GUARD_FOR_ACCESS: GuardInputs = { ...GUARD, version: "2" };
