import * as pulumi from "@pulumi/pulumi";
import type { RollbackConfig } from "../../lib/config";
import type { AwsAccess } from "../../lib/config/aws-access";
import type { DnsWeights as Weights, Side } from "../../lib/dns-weights";
import type { StepId } from "../../lib/runbook";
import { reportCommandLine, runContext, stepCommandLine } from "../command-line";
import { ConnectionSecret } from "../connectionSecret";
import { DnsWeights } from "../dnsWeights";
import { hostCommand } from "../hostCommand";
import { IdcMysql } from "../idcMysql";
import { NginxUpstream } from "../nginxUpstream";
import { type DesiredState, RdsPower } from "../rdsPower";
import { type CommandPlan, directionOf, dispatch, planStep, plannedSteps, preflightArgs, rdsDesiredState, type StepPlan } from "./plan";

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
  /** The project root on the runner (lib/config/project.ts projectRoot): where local commands run. */
  readonly projectDir: string;
  /** The stack's `aws:` profile and assumed roles, for the RDS dynamic providers (lib/config/aws-access.ts). */
  readonly awsAccess: AwsAccess;
}

/**
 * The Runbook component is the plan's procedure as resources: one child per lib/runbook.ts
 * step, each depending on the one before, built from the step's plan (plan.ts STEP_PLANS).
 * Command steps are command resources wrapped in scripts/step.ts; the connection secret,
 * nginx upstream, DNS weights, RDS power and IDC health are components placed at their step. Since every traffic move comes after
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
    const run = runContext(args.projectDir, config.runbook.timelineDir, args.runId);
    this.steps = plannedSteps(config);
    this.runId = args.runId;
    this.activeTarget = config.target;
    this.rdsDesiredState = rdsDesiredState(config.target);

    // R9 for real runs: step.ts announces the start, each phase, progress and failures, and
    // report.ts the end, when the webhook is configured. The URL is a secret Output.
    const { webhookUrl, progressEveryMin } = config.notifications;
    const notifyEnv: Record<string, pulumi.Input<string>> = webhookUrl
      ? { ROLLBACK_WEBHOOK_URL: webhookUrl, ROLLBACK_CONTACTS: JSON.stringify(config.contacts), ROLLBACK_PROGRESS_EVERY_MIN: String(progressEveryMin) }
      : {};

    const built: Partial<{ dns: DnsWeights; nginx: NginxUpstream; secret: ConnectionSecret }> = {};
    let previous: pulumi.Resource | undefined;
    for (const step of this.steps) {
      const gate = { parent: this, dependsOn: previous ? [previous] : [] };
      const command = (p: CommandPlan) => {
        const connection = p.where === "nginx" ? config.nginx.connection : ({ mode: "local" } as const);
        return hostCommand(
          `${name}-${step}`,
          {
            connection,
            dir: run.projectDir,
            create: stepCommandLine(step, run, p.args, p.okCodes),
            // Over SSH, nothing but the command line: the nginx steps need no secret, a default sshd
            // refuses an environment (hostCommand), and the runner's steps send the notifications.
            environment: connection.mode === "ssh" ? p.environment : { ...p.environment, ...notifyEnv },
            triggers: [args.runId],
          },
          gate,
        );
      };
      previous = dispatch<StepPlan, pulumi.Resource>(planStep(step, config, direction), {
        command,
        preflight: (p) => command({ kind: "command", where: "runner", args: preflightArgs(p.inputs), environment: p.environment }),
        "connection-secret": (p) => {
          const { sessions } = p.args;
          const args = { ...p.args, sessions: sessions && { ...sessions, environment: { ...sessions.environment, ...notifyEnv } }, run };
          return (built.secret = new ConnectionSecret(`${name}-connection-secret`, args, gate));
        },
        "nginx-upstream": (p) => (built.nginx = new NginxUpstream(`${name}-nginx-upstream`, { ...p.args, run }, gate)),
        "dns-weights": (p) => (built.dns = new DnsWeights(`${name}-dns-weights`, p.args, gate)),
        "rds-power": (p) => new RdsPower(`${name}-rds`, { ...p.args, access: args.awsAccess }, gate),
        "idc-health": (p) => new IdcMysql(`${name}-idc-mysql`, { ...p.args, run }, gate),
        // The report of a successful run, written by `pulumi up` itself. A run stopped by a failed
        // step gets none from here (Pulumi skips what depends on a failure): the switch workflow
        // runs the same command with `if: always()`, and docs/pulumi.md shows it for hand runs.
        report: () => {
          if (!built.dns || !built.nginx || !built.secret) throw new Error("the report step must come after every traffic step");
          return hostCommand(
            `${name}-report`,
            {
              connection: { mode: "local" },
              dir: run.projectDir,
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
        },
      });
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
