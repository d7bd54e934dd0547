import * as pulumi from "@pulumi/pulumi";
import { type RunContext, stepCommandLine } from "./command-line";
import { hostCommand } from "./hostCommand";
import { idcHealthArgs, idcHealthEnvironment } from "./runbook/plan";

/**
 * IdcMysqlArgs describe the running IDC MySQL container and how the runbook checks it.
 */
export interface IdcMysqlArgs {
  /** The IDC docker daemon, e.g. `ssh://deploy@idc-db-1`. */
  readonly dockerHost: string;
  readonly containerName: string;
  /** `restart` (when unhealthy, exited or dead) or only `check`, then wait until MySQL answers. */
  readonly restartIfUnhealthy: boolean;
  readonly waitTimeoutSeconds: number;
  /** The IDC database URL, a secret Output: how the check knows MySQL answers. */
  readonly databaseUrl: pulumi.Output<string>;
  readonly run: RunContext;
}

/**
 * The IdcMysql component runs the runbook's `idc-health` step: scripts/idc-mysql.ts restarts
 * the container through the docker CLI if it is unhealthy, exited or dead, then waits until
 * MySQL answers.
 *
 * It does not declare the container. Neither switch stack may own the production database's
 * container: a `docker.Container` with the running container's name fails on the name conflict
 * at the first `up` (after maintenance is already on), and once imported, any difference (a
 * re-pulled floating tag, a health check, a label) replaces it, and pulumi-docker replaces
 * containers delete-first: the production database restarted or upgraded by a traffic switch.
 * The container stays with whatever deploys it today; this step only checks and restarts it.
 */
export class IdcMysql extends pulumi.ComponentResource {
  public readonly containerName: string;

  constructor(name: string, args: IdcMysqlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:idc:IdcMysql", name, {}, opts);
    this.containerName = args.containerName;

    hostCommand(
      `${name}-health`,
      {
        connection: { mode: "local" },
        dir: args.run.projectDir,
        create: stepCommandLine("idc-health", args.run, idcHealthArgs(args)),
        environment: idcHealthEnvironment(args),
        triggers: [args.run.runId],
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.registerOutputs({ containerName: this.containerName });
  }
}
