import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type RunContext, stepCommandLine } from "./command-line";
import { hostCommand } from "./hostCommand";
import { idcHealthArgs, idcHealthEnvironment } from "./runbook/plan";

/** Docker HEALTHCHECK timings. */
export interface HealthCheckArgs {
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly startPeriodSeconds: number;
}

/**
 * IdcMysqlArgs describe the IDC MySQL container and how the runbook checks it.
 */
export interface IdcMysqlArgs {
  /** The IDC docker daemon, e.g. `ssh://deploy@idc-db-1`. */
  readonly dockerHost: string;
  readonly sshOpts?: readonly string[];
  readonly image: string;
  readonly containerName: string;
  /** The existing volume with the data directory: mounted by name, never created or removed here. */
  readonly dataVolume: string;
  readonly dataPath: string;
  readonly hostPort: number;
  readonly restart: "no" | "on-failure" | "always" | "unless-stopped";
  readonly healthCheck: HealthCheckArgs;
  /**
   * Declare the container in this stack. Only the rollback stack does: two stacks declaring one
   * container fight over it (pulumi #13799); the cutover stack only checks it.
   */
  readonly manageContainer: boolean;
  /** `restart` (when unhealthy, exited or dead) or only `check`, then wait until MySQL answers. */
  readonly restartIfUnhealthy: boolean;
  readonly waitTimeoutSeconds: number;
  /** The IDC database URL, a secret Output: how the check knows MySQL answers. */
  readonly databaseUrl: pulumi.Output<string>;
  readonly run: RunContext;
}

const seconds = (n: number) => `${n}s`;

/**
 * The IdcMysql component keeps the IDC MySQL container running on the IDC docker host, with a
 * health check, a restart policy and its data on an existing volume, and runs the runbook's
 * `idc-health` step: restart the container if it is unhealthy, then wait until MySQL answers.
 */
export class IdcMysql extends pulumi.ComponentResource {
  public readonly containerName: string;

  constructor(name: string, args: IdcMysqlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:idc:IdcMysql", name, {}, opts);
    this.containerName = args.containerName;
    const gate = { parent: this, dependsOn: opts?.dependsOn };

    let container: docker.Container | undefined;
    if (args.manageContainer) {
      const provider = new docker.Provider(`${name}-docker`, { host: args.dockerHost, sshOpts: args.sshOpts ? [...args.sshOpts] : undefined }, { parent: this });
      // keepLocally: a destroy must not try to remove the image the production container runs.
      const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { ...gate, provider, retainOnDelete: true });
      container = new docker.Container(
        `${name}-container`,
        {
          name: args.containerName,
          image: image.imageId,
          restart: args.restart,
          mustRun: true,
          ports: [{ internal: 3306, external: args.hostPort }],
          volumes: [{ volumeName: args.dataVolume, containerPath: args.dataPath }],
          // `mysqladmin ping` exits 0 once mysqld accepts connections, even when access is
          // denied, so the check needs no password (and none lands in the container's config).
          healthcheck: {
            tests: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"],
            interval: seconds(args.healthCheck.intervalSeconds),
            timeout: seconds(args.healthCheck.timeoutSeconds),
            retries: args.healthCheck.retries,
            startPeriod: seconds(args.healthCheck.startPeriodSeconds),
          },
          wait: true,
          waitTimeout: args.waitTimeoutSeconds,
        },
        // Retained: destroying the stack must not remove the production database's container.
        { parent: this, provider, dependsOn: [image], retainOnDelete: true },
      );
    }

    hostCommand(
      `${name}-health`,
      {
        connection: { mode: "local" },
        create: stepCommandLine("idc-health", args.run, idcHealthArgs(args)),
        environment: idcHealthEnvironment(args),
        triggers: [args.run.runId],
      },
      container ? { parent: this, dependsOn: [container] } : gate,
    );

    this.registerOutputs({ containerName: this.containerName });
  }
}
