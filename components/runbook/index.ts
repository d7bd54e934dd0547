import * as pulumi from "@pulumi/pulumi";
import type { RollbackConfig } from "../../lib/config";
import type { DnsWeights as Weights, Side } from "../../lib/dns-weights";
import type { StepId } from "../../lib/runbook";
import { reportCommandLine, runContext, stepCommandLine } from "../command-line";
import { ConnectionSecret } from "../connectionSecret";
import { DnsWeights } from "../dnsWeights";
import { hostCommand } from "../hostCommand";
import { IdcMysql } from "../idcMysql";
import { NginxUpstream } from "../nginxUpstream";
import { type DesiredState, RdsPower } from "../rdsPower";
import { databaseUrl, directionOf, plannedSteps, scriptStep } from "./plan";

/**
 * RunbookArgs describe one run of the rollback (or cutover) runbook.
 */
export interface RunbookArgs {
  /** The validated stack config (lib/config). */
  readonly config: RollbackConfig;
  /**
   * Identifies this run; every runbook command has it as a trigger, so a new id re-runs the
   * whole runbook (a changed trigger replaces a command, which runs its `create` again).
   */
  readonly runId: string;
}

/**
 * The Runbook component is the plan's procedure as resources: one child per lib/runbook.ts
 * step, each depending on the one before. Script steps are command resources wrapped in
 * scripts/step.ts; the connection secret, nginx upstream, DNS weights, RDS power and IDC
 * container are components placed at their step. Since every traffic move comes after
 * `verify` in the chain, a failed verification stops `pulumi up` before any traffic moves:
 * Pulumi does not create a resource whose dependency failed. With runbook.copyBack false
 * there is no sync and no verify (plannedSteps), and the traffic moves wait for `diff`.
 */
export class Runbook extends pulumi.ComponentResource {
  /** The step ids in the order they run. */
  public readonly steps: StepId[];
  /** This run's id: its timeline is `<timelineDir>/<runId>/timeline.jsonl`. */
  public readonly runId: string;
  public readonly activeTarget: Side;
  public readonly dnsWeights: Weights;
  public readonly nginxUpstream: string;
  public readonly connectionSecretArn: pulumi.Output<string>;
  public readonly rdsDesiredState: DesiredState;

  constructor(name: string, args: RunbookArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:runbook:Runbook", name, {}, opts);
    const { config } = args;
    const direction = directionOf(config.target);
    const run = runContext(config.runbook.timelineDir, args.runId);
    this.steps = plannedSteps(config);
    this.runId = args.runId;
    this.activeTarget = config.target;
    this.rdsDesiredState = config.target === "idc" ? "stopped" : "available";

    const dns = (gate: pulumi.ComponentResourceOptions) =>
      new DnsWeights(`${name}-dns-weights`, { ...config.route53, target: config.target }, gate);
    const nginx = (gate: pulumi.ComponentResourceOptions) =>
      new NginxUpstream(
        `${name}-nginx-upstream`,
        {
          connection: config.nginx.connection,
          file: config.nginx.file,
          upstreamName: config.nginx.upstreamName,
          kind: config.nginx.kind,
          servers: direction.target === "idc" ? config.nginx.idcServers : config.nginx.awsServers,
          testCommand: config.nginx.testCommand,
          reloadCommand: config.nginx.reloadCommand,
          run,
        },
        gate,
      );
    const secret = (gate: pulumi.ComponentResourceOptions) => {
      const live = config[direction.target];
      return new ConnectionSecret(
        `${name}-connection-secret`,
        {
          store: config.connectionSecret.store,
          secretId: config.connectionSecret.id,
          format: config.connectionSecret.format,
          endpoint: { host: live.host, port: live.port, database: live.database, user: live.user },
          password: live.password,
          extras: config.connectionSecret.extras,
          recycleCommand: config.connectionSecret.recycleCommand,
          runId: args.runId,
        },
        gate,
      );
    };
    const rds = (gate: pulumi.ComponentResourceOptions) => {
      const { stopGuard, ...r } = config.rds;
      return new RdsPower(
        `${name}-rds`,
        {
          instanceId: r.instanceId,
          region: r.region,
          desiredState: this.rdsDesiredState,
          finalSnapshot: r.finalSnapshot,
          snapshotPrefix: r.snapshotPrefix,
          pollIntervalSeconds: r.pollIntervalSeconds,
          timeoutMinutes: r.timeoutMinutes,
          stopGuard: stopGuard.enabled
            ? {
                roleArn: stopGuard.roleArn!, // required when enabled (lib/config)
                scheduleName: stopGuard.scheduleName ?? `keep-${r.instanceId}-stopped`.slice(0, 64),
                groupName: stopGuard.groupName,
                scheduleExpression: stopGuard.scheduleExpression,
              }
            : undefined,
        },
        gate,
      );
    };
    const idc = (gate: pulumi.ComponentResourceOptions) => {
      const { restartIfUnhealthy, waitTimeoutSeconds, ...container } = config.idcMysql;
      return new IdcMysql(
        `${name}-idc-mysql`,
        {
          ...container,
          manageContainer: config.target === "idc",
          restartIfUnhealthy,
          waitTimeoutSeconds,
          databaseUrl: databaseUrl(config.idc),
          run,
        },
        gate,
      );
    };

    // R9 for real runs: step.ts announces the start, each phase, progress and failures, and
    // report.ts the end, when the webhook is configured. The URL is a secret Output.
    const { webhookUrl, progressEveryMin } = config.notifications;
    const notifyEnv: Record<string, pulumi.Input<string>> = webhookUrl
      ? { ROLLBACK_WEBHOOK_URL: webhookUrl, ROLLBACK_CONTACTS: JSON.stringify(config.contacts), ROLLBACK_PROGRESS_EVERY_MIN: String(progressEveryMin) }
      : {};

    // The report of a successful run, written by `pulumi up` itself. A run stopped by a failed
    // step gets none from here (Pulumi skips what depends on a failure): the switch workflow
    // runs the same command with `if: always()`, and docs/pulumi.md shows it for hand runs.
    const report = (gate: pulumi.CustomResourceOptions, built: { dns: DnsWeights; nginx: NginxUpstream; secret: ConnectionSecret }) =>
      hostCommand(
        `${name}-report`,
        {
          connection: { mode: "local" },
          create: reportCommandLine(run),
          environment: {
            ROLLBACK_CHANGES: pulumi.jsonStringify({
              dnsWeights: built.dns.weights,
              nginxUpstream: built.nginx.text,
              connectionSecretArn: built.secret.arn,
              rdsDesiredState: this.rdsDesiredState,
            }),
            ...notifyEnv,
            ROLLBACK_CONTACTS: JSON.stringify(config.contacts),
          },
          triggers: [args.runId],
        },
        gate,
      );

    const built: Partial<{ dns: DnsWeights; nginx: NginxUpstream; secret: ConnectionSecret }> = {};
    let previous: pulumi.Resource | undefined;
    for (const step of this.steps) {
      const gate = { parent: this, dependsOn: previous ? [previous] : [] };
      switch (step) {
        case "connection-secret":
          previous = built.secret = secret(gate);
          break;
        case "nginx-upstream":
          previous = built.nginx = nginx(gate);
          break;
        case "dns-weights":
          previous = built.dns = dns(gate);
          break;
        case "rds-power":
          previous = rds(gate);
          break;
        case "idc-health":
          previous = idc(gate);
          break;
        case "report":
          if (!built.dns || !built.nginx || !built.secret) throw new Error("the report step must come after every traffic step");
          previous = report(gate, { dns: built.dns, nginx: built.nginx, secret: built.secret });
          break;
        default: {
          const s = scriptStep(step, config, direction);
          if (!s) throw new Error(`runbook step ${step} has neither a script nor a component`);
          previous = hostCommand(
            `${name}-${step}`,
            {
              connection: s.where === "nginx" ? config.nginx.connection : { mode: "local" },
              create: stepCommandLine(step, run, s.args, s.okCodes),
              environment: { ...s.environment, ...notifyEnv },
              triggers: [args.runId],
            },
            gate,
          );
        }
      }
    }
    if (!built.dns || !built.nginx || !built.secret) throw new Error("the runbook lost a traffic step (lib/runbook.ts STEPS changed?)");
    this.dnsWeights = built.dns.weights;
    this.nginxUpstream = built.nginx.text;
    this.connectionSecretArn = built.secret.arn;

    this.registerOutputs({
      steps: this.steps,
      runId: this.runId,
      activeTarget: this.activeTarget,
      dnsWeights: this.dnsWeights,
      nginxUpstream: this.nginxUpstream,
      connectionSecretArn: this.connectionSecretArn,
      rdsDesiredState: this.rdsDesiredState,
    });
  }
}
