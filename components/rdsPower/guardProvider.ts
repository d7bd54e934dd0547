import type { CreateScheduleCommandInput, GetScheduleCommandOutput, SchedulerClient } from "@aws-sdk/client-scheduler";
import type { dynamic } from "@pulumi/pulumi";
import { awsErrorName } from "../../lib/errors";
import { type AwsAccess, changedKeys, clientConfig } from "./access";

/**
 * Dynamic provider for the stop guard: an EventBridge Scheduler schedule whose universal
 * target calls rds:StopDBInstance, because RDS starts a stopped instance by itself after
 * 7 days (RDS-EVENT-0154) and the rollback may stand longer than that.
 *
 * Both stacks write the same schedule (the rollback stack enables it, the cutover stack
 * disables it), which `aws.scheduler.Schedule` cannot do: the second stack's create fails with
 * ConflictException (the two-stacks problem, pulumi #13799). So this provider upserts it by
 * name, and has no delete: destroying a stack leaves the schedule as it is.
 * The SDK is `require()`d inside the methods (pulumi #13960).
 */

export const GUARD_PROVIDER_VERSION = "2";

/** The universal target (EventBridge Scheduler User Guide, "Using universal targets"). */
export const STOP_TARGET_ARN = "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance";

export type GuardState = "ENABLED" | "DISABLED";

export interface GuardInputs {
  readonly region: string;
  /** The stack's `aws:` profile and assumed roles (./access). */
  readonly access: AwsAccess;
  readonly scheduleName: string;
  readonly groupName: string;
  readonly instanceId: string;
  readonly roleArn: string;
  readonly scheduleExpression: string;
  readonly state: GuardState;
  readonly version: string;
}

export interface GuardOutputs extends GuardInputs {
  /** What the schedule is now; ABSENT when disabling a schedule that was never created. */
  readonly observed: GuardState | "ABSENT";
}

/**
 * The schedule's definition. The input casing is the SDK's request JSON, `DbInstanceIdentifier`,
 * not the RDS Query API's `DBInstanceIdentifier`: Scheduler validates universal-target input
 * against the SDK model. A stop of an already stopped instance fails harmlessly, so no retries.
 */
function scheduleDefinition(inputs: GuardInputs): CreateScheduleCommandInput {
  return {
    Name: inputs.scheduleName,
    GroupName: inputs.groupName,
    Description: `Keeps RDS ${inputs.instanceId} stopped while the IDC rollback stands (managed by the rollback stack).`,
    ScheduleExpression: inputs.scheduleExpression,
    FlexibleTimeWindow: { Mode: "OFF" },
    State: inputs.state,
    ActionAfterCompletion: "NONE",
    Target: {
      Arn: STOP_TARGET_ARN,
      RoleArn: inputs.roleArn,
      Input: JSON.stringify({ DbInstanceIdentifier: inputs.instanceId }),
      RetryPolicy: { MaximumRetryAttempts: 0 },
    },
  };
}

async function getSchedule(client: SchedulerClient, inputs: Pick<GuardInputs, "scheduleName" | "groupName">): Promise<GetScheduleCommandOutput | undefined> {
  const { GetScheduleCommand } = require("@aws-sdk/client-scheduler") as typeof import("@aws-sdk/client-scheduler");
  try {
    return await client.send(new GetScheduleCommand({ Name: inputs.scheduleName, GroupName: inputs.groupName }));
  } catch (e) {
    if (awsErrorName(e) === "ResourceNotFoundException") return undefined;
    throw e;
  }
}

/**
 * Enables (creating it when missing) or disables the schedule. Disabling keeps the schedule's
 * own definition and flips only its state, so the cutover stack needs nothing but its name.
 */
export async function applyGuard(client: SchedulerClient, inputs: GuardInputs): Promise<GuardOutputs> {
  const { CreateScheduleCommand, UpdateScheduleCommand } = require("@aws-sdk/client-scheduler") as typeof import("@aws-sdk/client-scheduler");
  const existing = await getSchedule(client, inputs);
  if (inputs.state === "DISABLED") {
    if (!existing) return { ...inputs, observed: "ABSENT" };
    await client.send(
      new UpdateScheduleCommand({
        Name: inputs.scheduleName,
        GroupName: inputs.groupName,
        Description: existing.Description,
        ScheduleExpression: existing.ScheduleExpression,
        ScheduleExpressionTimezone: existing.ScheduleExpressionTimezone,
        FlexibleTimeWindow: existing.FlexibleTimeWindow,
        Target: existing.Target,
        ActionAfterCompletion: existing.ActionAfterCompletion,
        State: "DISABLED",
      }),
    );
    return { ...inputs, observed: "DISABLED" };
  }
  const definition = scheduleDefinition(inputs);
  await client.send(existing ? new UpdateScheduleCommand(definition) : new CreateScheduleCommand(definition));
  return { ...inputs, observed: "ENABLED" };
}

async function newClient(inputs: Pick<GuardInputs, "region" | "access">): Promise<SchedulerClient> {
  const { SchedulerClient: Client } = require("@aws-sdk/client-scheduler") as typeof import("@aws-sdk/client-scheduler");
  return new Client(await clientConfig(inputs.region, inputs.access));
}

const INPUT_KEYS: readonly (keyof GuardInputs)[] = ["region", "access", "scheduleName", "groupName", "instanceId", "roleArn", "scheduleExpression", "state", "version"];

export const guardProvider: dynamic.ResourceProvider<GuardInputs, GuardOutputs> = {
  /** Asks AWS, like the power provider: the other stack may have flipped the schedule since our last up. */
  async diff(_id, olds, news) {
    const changed = changedKeys(INPUT_KEYS, olds, news);
    const live = (await getSchedule(await newClient(news), news))?.State ?? "ABSENT";
    const drifted = news.state === "ENABLED" ? live !== "ENABLED" : live === "ENABLED";
    return { changes: changed.length > 0 || drifted, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs) {
    return { id: `${inputs.groupName}/${inputs.scheduleName}`, outs: await applyGuard(await newClient(inputs), inputs) };
  },
  async update(_id, _olds, news) {
    return { outs: await applyGuard(await newClient(news), news) };
  },
};
