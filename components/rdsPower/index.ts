import * as pulumi from "@pulumi/pulumi";
import { GUARD_PROVIDER_VERSION, type GuardInputs, guardProvider } from "./guardProvider";
import { type DesiredState, POWER_PROVIDER_VERSION, type PowerInputs, powerProvider } from "./powerProvider";

export type { DesiredState } from "./powerProvider";

/** The stop guard's settings; the schedule is an existing role's, named per instance. */
export interface StopGuardArgs {
  readonly roleArn: string;
  readonly scheduleName: string;
  readonly groupName: string;
  readonly scheduleExpression: string;
}

/**
 * RdsPowerArgs describe the RDS instance and the state this stack wants it in.
 */
export interface RdsPowerArgs extends Omit<PowerInputs, "version"> {
  /** Keep the instance stopped past RDS's 7-day automatic start; undefined leaves any schedule alone. */
  readonly stopGuard?: StopGuardArgs;
}

/** The instance's power state, applied by the dynamic provider in ./powerProvider. */
class PowerState extends pulumi.dynamic.Resource {
  declare readonly status: pulumi.Output<string>;
  declare readonly snapshotId: pulumi.Output<string | null>;
  constructor(name: string, args: PowerInputs, opts: pulumi.CustomResourceOptions) {
    super(powerProvider, name, { ...args, status: undefined, snapshotId: undefined }, opts, "rds", "PowerState");
  }
}

/** The EventBridge Scheduler stop guard, applied by the dynamic provider in ./guardProvider. */
class StopGuard extends pulumi.dynamic.Resource {
  declare readonly observed: pulumi.Output<string>;
  constructor(name: string, args: GuardInputs, opts: pulumi.CustomResourceOptions) {
    super(guardProvider, name, { ...args, observed: undefined }, opts, "rds", "StopGuard");
  }
}

/**
 * The RdsPower component stops RDS (final snapshot, wait until `stopped`) or starts it (wait
 * until `available`), and switches the stop guard to match. Order matters in both directions:
 * the guard is enabled only once the instance is stopped, and disabled before it is started,
 * so the schedule can never stop an instance the cutover is bringing up.
 */
export class RdsPower extends pulumi.ComponentResource {
  /** The state this stack asserts. */
  public readonly desiredState: DesiredState;
  /** The final snapshot taken by the last stop, if any. */
  public readonly snapshotId: pulumi.Output<string | null>;

  constructor(name: string, args: RdsPowerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:rds:RdsPower", name, {}, opts);
    this.desiredState = args.desiredState;

    // Children do not inherit the component's dependsOn; the first one carries the runbook's gate.
    const gate = { parent: this, dependsOn: opts?.dependsOn, retainOnDelete: true };
    const powerInputs: PowerInputs = {
      instanceId: args.instanceId,
      region: args.region,
      access: args.access,
      desiredState: args.desiredState,
      finalSnapshot: args.finalSnapshot,
      snapshotPrefix: args.snapshotPrefix,
      pollIntervalSeconds: args.pollIntervalSeconds,
      timeoutMinutes: args.timeoutMinutes,
      version: POWER_PROVIDER_VERSION,
    };
    const guardInputs = (g: StopGuardArgs): GuardInputs => ({
      region: args.region,
      access: args.access,
      instanceId: args.instanceId,
      ...g,
      state: args.desiredState === "stopped" ? "ENABLED" : "DISABLED",
      version: GUARD_PROVIDER_VERSION,
    });

    let power: PowerState;
    if (args.desiredState === "stopped") {
      power = new PowerState(`${name}-power`, powerInputs, gate);
      if (args.stopGuard) new StopGuard(`${name}-guard`, guardInputs(args.stopGuard), { ...gate, dependsOn: [power] });
    } else {
      const guard = args.stopGuard ? new StopGuard(`${name}-guard`, guardInputs(args.stopGuard), gate) : undefined;
      power = new PowerState(`${name}-power`, powerInputs, { ...gate, dependsOn: guard ? [guard] : opts?.dependsOn });
    }
    this.snapshotId = power.snapshotId;

    this.registerOutputs({ desiredState: this.desiredState, snapshotId: this.snapshotId });
  }
}
