import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type ConnectionExtras, type ConnectionFormat, type DbEndpoint, connectionValue } from "../lib/connection-string";
import { type RunContext, stepCommandLine } from "./command-line";
import { hostCommand } from "./hostCommand";

/**
 * ConnectionSecretArgs describe the app's existing connection secret and what it should say.
 */
export interface ConnectionSecretArgs {
  /** `secretsmanager`: a new version of an existing secret; `ssm`: an existing SecureString parameter. */
  readonly store: "secretsmanager" | "ssm";
  /** The existing secret (ARN or name) or parameter name; referenced, never created or deleted here. */
  readonly secretId: string;
  readonly format: ConnectionFormat;
  /** The live database's endpoint (no password). */
  readonly endpoint: DbEndpoint;
  /** The password, a secret Output from config. */
  readonly password: pulumi.Output<string>;
  /** Pool and timeout settings the app reads next to the endpoint. */
  readonly extras: ConnectionExtras;
  /** Makes apps re-read the secret and drop pooled connections (e.g. `kubectl rollout restart deploy/app`). */
  readonly recycleCommand?: string;
  /**
   * ssm: the KMS key the parameter is written with; absent: SSM's default key (alias/aws/ssm,
   * PutParameter without KeyId). Preflight checks it is the key the parameter has today.
   */
  readonly kmsKeyId?: string;
  /**
   * After the recycle, the proof that the app moved: scripts/app-sessions.ts's arguments and the
   * two database URLs (plan.ts). Only with a recycle: without one apps move only when they
   * re-read the secret by themselves (up to an hour for AWS's caching clients).
   */
  readonly sessions?: { readonly args: readonly (string | number)[]; readonly environment: Record<string, pulumi.Input<string>> };
  /** The run: the recycle runs again on every run (the other stack may have moved AWSCURRENT since), in the project root. */
  readonly run: RunContext;
}

/**
 * The ConnectionSecret component points the app's connection secret at the live database.
 * The value is built inside `apply` from secret inputs only, so it is a secret Output: never
 * plain text in state, stack outputs or logs.
 */
export class ConnectionSecret extends pulumi.ComponentResource {
  /** The ARN of the secret (or parameter) the app reads. */
  public readonly arn: pulumi.Output<string>;

  constructor(name: string, args: ConnectionSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:traffic:ConnectionSecret", name, {}, opts);

    const value = pulumi.secret(args.password.apply((password) => connectionValue(args.format, args.endpoint, password, args.extras)));
    const gate = { parent: this, dependsOn: opts?.dependsOn, retainOnDelete: true };

    let written: aws.secretsmanager.SecretVersion | aws.ssm.Parameter;
    if (args.store === "secretsmanager") {
      // An explicit AWSCURRENT makes `up --refresh` move the label back after the other stack
      // wrote its own version; left implicit, the label is only set when a version is created.
      written = new aws.secretsmanager.SecretVersion(`${name}-version`, { secretId: args.secretId, secretString: value, versionStages: ["AWSCURRENT"] }, gate);
    } else {
      // `overwrite` takes over the existing parameter instead of failing on it. SecureString
      // values land in state in plain text unless the input is a secret: `value` is one.
      written = new aws.ssm.Parameter(`${name}-parameter`, { name: args.secretId, type: "SecureString", value, overwrite: true, ...(args.kmsKeyId ? { keyId: args.kmsKeyId } : {}) }, gate);
    }
    this.arn = written.arn;

    if (args.recycleCommand) {
      // Apps cache secrets (AWS caching clients ~1 h, ECS reads them at task start) and keep
      // pooled connections open: without a recycle the switch takes effect only eventually.
      // Triggered by the run id alone, not by the version's id: what the recycle does must not
      // depend on what the state held before (issue 13, item 3); every run recycles.
      const recycle = hostCommand(
        `${name}-recycle`,
        { connection: { mode: "local" }, dir: args.run.projectDir, create: args.recycleCommand, triggers: [args.run.runId] },
        { parent: this, dependsOn: [written] },
      );
      // A new version and a recycle say nothing about where pooled connections actually go:
      // each side's processlist does (the step's timeline entry is this proof).
      if (args.sessions) {
        hostCommand(
          `${name}-sessions`,
          {
            connection: { mode: "local" },
            dir: args.run.projectDir,
            create: stepCommandLine("connection-secret", args.run, args.sessions.args),
            environment: args.sessions.environment,
            triggers: [args.run.runId],
          },
          { parent: this, dependsOn: [recycle] },
        );
      }
    }

    this.registerOutputs({ arn: this.arn });
  }
}
