import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ConnectionConfig } from "../lib/config";
import { shellQuote } from "./command-line";

/**
 * HostCommandArgs describe one runbook command and where it runs.
 */
export interface HostCommandArgs {
  /** The Pulumi runner itself, or a host reached over SSH (nginx, when it is not the runner). */
  readonly connection: ConnectionConfig;
  /** The project root on the runner, where a local command runs (over SSH: the connection's projectDir). */
  readonly dir: string;
  /** The command line; never a secret (see command-line.ts). */
  readonly create: string;
  /** Secrets (database URLs) go here only; local commands only (see hostCommand). */
  readonly environment?: Record<string, pulumi.Input<string>>;
  /** A change replaces the resource, which runs `create` again (pulumi-command #855). */
  readonly triggers: pulumi.Input<unknown>[];
}

/**
 * A local or remote (SSH) command for one runbook step, with the options every step needs:
 * - an explicit `dir`: without one a local command runs in the command provider's working
 *   directory, which with `main: dist/index.js` is not the project root (lib/config/project.ts);
 * - no `environment` over SSH: @pulumi/command sends it with Setenv, which a default sshd
 *   refuses (it accepts only LANG/LC_* through AcceptEnv), failing the step;
 * - `addPreviousOutputInEnv: false`: otherwise the provider passes the previous run's stdout and
 *   stderr (reports that may quote what a script was given) to the next run's environment;
 * - retained on delete: destroying a stack must not undo a switch (and there is no `delete` to run);
 * - deleteBeforeReplace: a re-run of a switch never overlaps its previous instance;
 * - where a secret is near (an environment value, an SSH key or password), logging is off and
 *   stdout/stderr are stored as secrets, since a script's report could echo what it was given.
 */
export function hostCommand(name: string, args: HostCommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command | command.remote.Command {
  const env = args.environment ?? {};
  const ssh = args.connection.mode === "ssh" ? args.connection : undefined;
  if (ssh && Object.keys(env).length > 0) {
    throw new Error(`${name}: a remote command gets no environment (default sshd refuses Setenv): ${Object.keys(env).join(", ")}`);
  }
  const secretNear = Object.keys(env).length > 0 || Boolean(ssh?.privateKey || ssh?.password);
  const options: pulumi.CustomResourceOptions = {
    ...opts,
    retainOnDelete: true,
    deleteBeforeReplace: true,
    additionalSecretOutputs: secretNear ? ["stdout", "stderr"] : undefined,
  };
  const common = {
    triggers: args.triggers,
    addPreviousOutputInEnv: false,
    logging: secretNear ? ("none" as const) : ("stdoutAndStderr" as const),
  };
  if (!ssh) return new command.local.Command(name, { ...common, create: args.create, dir: args.dir, environment: env }, options);
  return new command.remote.Command(
    name,
    {
      ...common,
      create: `cd ${shellQuote(ssh.projectDir)} && ${args.create}`,
      connection: {
        host: ssh.host,
        port: ssh.port,
        user: ssh.user,
        privateKey: ssh.privateKey,
        password: ssh.password,
        agentSocketPath: ssh.agentSocketPath,
      },
    },
    options,
  );
}
