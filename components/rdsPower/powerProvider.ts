import type { DBInstance, RDSClient } from "@aws-sdk/client-rds";
import type { dynamic } from "@pulumi/pulumi";
import { RollbackError, awsErrorName, formatError, isRollbackError } from "../../lib/errors";
import { type AwsAccess, changedKeys, clientConfig } from "./access";

/**
 * Dynamic provider that stops an RDS instance (with a unique final snapshot) and waits until
 * it is `stopped`, or starts it and waits until it is `available`.
 *
 * Why not `aws.rds.InstanceDesiredState`: it cannot start a stopped instance and passes no
 * snapshot id (terraform-provider-aws #40785). Why not the SDK's waiter: @aws-sdk/client-rds
 * has `waitUntilDBInstanceAvailable` but nothing for `stopped`, so one poll loop (with an
 * injectable clock, for tests) serves both directions.
 *
 * Serialization: Pulumi serializes `powerProvider` into the state. A top-level value import of
 * the AWS SDK captured by it fails to serialize (pulumi #13960), so the SDK is imported for
 * types only and `require()`d inside the methods.
 */

/** Bump when this file's behaviour changes: a changed input forces an update (dynamic providers are stored in state). */
export const POWER_PROVIDER_VERSION = "2";

export type DesiredState = "stopped" | "available";

export interface PowerInputs {
  readonly instanceId: string;
  readonly region: string;
  /** The stack's `aws:` profile and assumed roles (./access). */
  readonly access: AwsAccess;
  readonly desiredState: DesiredState;
  /** Take a final snapshot when stopping (R8: "RDS stopped, with a final snapshot"). */
  readonly finalSnapshot: boolean;
  readonly snapshotPrefix: string;
  readonly pollIntervalSeconds: number;
  readonly timeoutMinutes: number;
  readonly version: string;
}

export interface PowerOutputs extends PowerInputs {
  /** The status seen when the operation finished. */
  readonly status: string;
  /** The final snapshot taken by this operation, if any. */
  readonly snapshotId: string | null;
}

export interface Clock {
  sleep(ms: number): Promise<void>;
  now(): Date;
}

const realClock: Clock = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => new Date(),
};

/** What to do, in order, to get from `status` to `desired`. */
export type PowerAction = "stop" | "start" | "wait-stopped" | "wait-available";

/**
 * The plan from the current status, as a pure function. RDS stops only an `available`
 * instance and starts only a `stopped` one (InvalidDBInstanceState otherwise), so an instance
 * on its way somewhere is first waited for; anything else (modifying, backing-up, failed,
 * storage-full, ...) is refused with its status named.
 */
export function planPower(status: string, desired: DesiredState, instanceId: string): PowerAction[] {
  const plans: Record<DesiredState, Record<string, PowerAction[]>> = {
    stopped: { stopped: [], stopping: ["wait-stopped"], available: ["stop", "wait-stopped"], starting: ["wait-available", "stop", "wait-stopped"] },
    available: { available: [], starting: ["wait-available"], stopped: ["start", "wait-available"], stopping: ["wait-stopped", "start", "wait-available"] },
  };
  const plan = plans[desired][status];
  if (!plan) {
    throw new RollbackError(
      "RDS_INVALID_STATE",
      instanceId,
      `is "${status}"; RDS can only stop an available instance or start a stopped one`,
      "wait until it is available or stopped, then run pulumi up again",
    );
  }
  return plan;
}

/**
 * Refuses instances this provider cannot stop, before calling AWS: Aurora members stop with
 * StopDBCluster, and StopDBInstance is refused for an instance that has, or is, a read replica
 * (AWS RDS User Guide, "Stopping an Amazon RDS DB instance temporarily", limitations).
 */
export function refuseUnsupported(instance: DBInstance, desired: DesiredState, instanceId: string): void {
  if (instance.Engine?.startsWith("aurora") || instance.DBClusterIdentifier) {
    throw new RollbackError(
      "RDS_AURORA",
      instanceId,
      `is a member of Aurora cluster ${instance.DBClusterIdentifier ?? "(unknown)"}; Aurora stops and starts per cluster (StopDBCluster)`,
      "stop the cluster instead; this stack manages RDS for MySQL instances",
    );
  }
  const replicas = [...(instance.ReadReplicaDBInstanceIdentifiers ?? []), ...(instance.ReadReplicaDBClusterIdentifiers ?? [])];
  if (desired === "stopped" && (replicas.length > 0 || instance.ReadReplicaSourceDBInstanceIdentifier)) {
    const why = replicas.length > 0 ? `has read replicas (${replicas.join(", ")})` : `is a read replica of ${instance.ReadReplicaSourceDBInstanceIdentifier}`;
    throw new RollbackError("RDS_HAS_REPLICAS", instanceId, `${why}; AWS refuses to stop such an instance`, "delete or promote the replicas first");
  }
}

async function describeInstance(client: RDSClient, instanceId: string): Promise<DBInstance> {
  const { DescribeDBInstancesCommand } = require("@aws-sdk/client-rds") as typeof import("@aws-sdk/client-rds");
  try {
    const out = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }));
    const instance = out.DBInstances?.[0];
    if (!instance) throw new RollbackError("RDS_NOT_FOUND", instanceId, "DescribeDBInstances returned no instance");
    return instance;
  } catch (e) {
    throw translate(e, instanceId);
  }
}

/** Polls until the instance reports `want`; refuses a status that will never lead there, and gives up after the timeout. */
async function waitForStatus(
  client: RDSClient,
  inputs: Pick<PowerInputs, "instanceId" | "pollIntervalSeconds" | "timeoutMinutes">,
  want: DesiredState,
  clock: Clock,
): Promise<string> {
  const passing = want === "stopped" ? ["available", "stopping"] : ["stopped", "starting", "configuring-enhanced-monitoring", "configuring-log-exports"];
  const deadline = clock.now().getTime() + inputs.timeoutMinutes * 60_000;
  for (;;) {
    const status = (await describeInstance(client, inputs.instanceId)).DBInstanceStatus ?? "unknown";
    if (status === want) return status;
    if (!passing.includes(status)) {
      throw new RollbackError("RDS_UNEXPECTED_STATE", inputs.instanceId, `went to "${status}" while waiting for "${want}"`, "check the RDS console events");
    }
    if (clock.now().getTime() >= deadline) {
      throw new RollbackError(
        "RDS_TIMEOUT",
        inputs.instanceId,
        `still "${status}" after ${inputs.timeoutMinutes} min waiting for "${want}"`,
        "raise rds.timeoutMinutes or run pulumi up again; the operation continues in AWS",
      );
    }
    await clock.sleep(inputs.pollIntervalSeconds * 1000);
  }
}

/** `rollback-final-shop-db-20240601t103000z`-style ids: unique per second, valid as RDS snapshot identifiers. */
export function snapshotIdFor(prefix: string, instanceId: string, at: Date, attempt: number): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "z").toLowerCase();
  return `${prefix}-${instanceId}-${stamp}${attempt > 1 ? `-${attempt}` : ""}`.slice(0, 255);
}

const SNAPSHOT_ATTEMPTS = 3;

async function stop(client: RDSClient, inputs: PowerInputs, clock: Clock): Promise<string | null> {
  const { StopDBInstanceCommand } = require("@aws-sdk/client-rds") as typeof import("@aws-sdk/client-rds");
  const at = clock.now();
  for (let attempt = 1; ; attempt++) {
    const snapshotId = inputs.finalSnapshot ? snapshotIdFor(inputs.snapshotPrefix, inputs.instanceId, at, attempt) : undefined;
    try {
      await client.send(new StopDBInstanceCommand({ DBInstanceIdentifier: inputs.instanceId, DBSnapshotIdentifier: snapshotId }));
      return snapshotId ?? null;
    } catch (e) {
      // StopDBInstance fails before stopping anything when the snapshot id is taken: a new id is safe.
      if (awsErrorName(e) === "DBSnapshotAlreadyExistsFault" && attempt < SNAPSHOT_ATTEMPTS) continue;
      throw translate(e, inputs.instanceId, snapshotId);
    }
  }
}

async function start(client: RDSClient, inputs: PowerInputs): Promise<void> {
  const { StartDBInstanceCommand } = require("@aws-sdk/client-rds") as typeof import("@aws-sdk/client-rds");
  try {
    await client.send(new StartDBInstanceCommand({ DBInstanceIdentifier: inputs.instanceId }));
  } catch (e) {
    throw translate(e, inputs.instanceId);
  }
}

/** Brings the instance to `desiredState`; idempotent, so a re-run after a failure continues where AWS is. */
export async function applyPowerState(client: RDSClient, inputs: PowerInputs, clock: Clock): Promise<PowerOutputs> {
  const instance = await describeInstance(client, inputs.instanceId);
  refuseUnsupported(instance, inputs.desiredState, inputs.instanceId);
  let status = instance.DBInstanceStatus ?? "unknown";
  let snapshotId: string | null = null;
  for (const action of planPower(status, inputs.desiredState, inputs.instanceId)) {
    if (action === "stop") snapshotId = await stop(client, inputs, clock);
    else if (action === "start") await start(client, inputs);
    else status = await waitForStatus(client, inputs, action === "wait-stopped" ? "stopped" : "available", clock);
  }
  return { ...inputs, status, snapshotId };
}

/** AWS faults as RollbackErrors naming the instance and saying what to do. */
function translate(e: unknown, instanceId: string, snapshotId?: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  switch (awsErrorName(e)) {
    case "DBInstanceNotFoundFault":
      return new RollbackError("RDS_NOT_FOUND", instanceId, "no such DB instance in this region", "check rds.instanceId and rds.region");
    case "InvalidDBInstanceStateFault":
      return new RollbackError("RDS_INVALID_STATE", instanceId, `AWS refused: ${message}`, "wait until the instance is available or stopped, then run pulumi up again");
    case "DBSnapshotAlreadyExistsFault":
      return new RollbackError("RDS_SNAPSHOT_EXISTS", snapshotId ?? instanceId, `a snapshot with this id exists (${SNAPSHOT_ATTEMPTS} ids tried)`, "change rds.snapshotPrefix");
    case "InsufficientDBInstanceCapacityFault":
      return new RollbackError("RDS_NO_CAPACITY", instanceId, `AWS has no capacity to start it now: ${message}`, "retry later, or change the instance class or AZ");
    default:
      return e;
  }
}

async function newClient(inputs: Pick<PowerInputs, "region" | "access">): Promise<RDSClient> {
  const { RDSClient: Client } = require("@aws-sdk/client-rds") as typeof import("@aws-sdk/client-rds");
  return new Client(await clientConfig(inputs.region, inputs.access));
}

const INPUT_KEYS: readonly (keyof PowerInputs)[] = ["instanceId", "region", "access", "desiredState", "finalSnapshot", "snapshotPrefix", "pollIntervalSeconds", "timeoutMinutes", "version"];

/**
 * Pulumi's closure serialization rewrites `super(message)` in an Error subclass into a plain
 * call of Error, which builds a different object: in the serialized provider a RollbackError
 * arrives with an empty message (serialize.test.ts shows it). What leaves the provider is a
 * plain Error with the same text, rebuilt from the error's fields.
 */
async function withPlainErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isRollbackError(e)) throw e;
    throw new Error(formatError(e.code, e.subject, e.problem, e.hint));
  }
}

export const powerProvider: dynamic.ResourceProvider<PowerInputs, PowerOutputs> = {
  /**
   * Compares with AWS, not only with the last inputs: `read` does not work for dynamic
   * providers (pulumi #16175), so refresh cannot see that the other stack started the
   * instance, or that RDS started it by itself after 7 days. Asking here makes preview show
   * the update and `up` re-assert the state.
   */
  diff: (_id, olds, news) =>
    withPlainErrors(async () => {
      const changed = changedKeys(INPUT_KEYS, olds, news);
      const live = (await describeInstance(await newClient(news), news.instanceId)).DBInstanceStatus;
      return { changes: changed.length > 0 || live !== news.desiredState, replaces: [], deleteBeforeReplace: false };
    }),
  create: (inputs) => withPlainErrors(async () => ({ id: inputs.instanceId, outs: await applyPowerState(await newClient(inputs), inputs, realClock) })),
  update: (_id, _olds, news) => withPlainErrors(async () => ({ outs: await applyPowerState(await newClient(news), news, realClock) })),
  // No delete: destroying a stack must leave the instance as it is (it is shared and long-lived).
};
