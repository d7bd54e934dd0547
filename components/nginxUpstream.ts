import * as pulumi from "@pulumi/pulumi";
import type { ConnectionConfig, RollbackConfig } from "../lib/config";
import { type UpstreamKind, parseHostPort, renderUpstream } from "../lib/nginx-upstream";
import { type RunContext, stepCommandLine } from "./command-line";
import { hostCommand } from "./hostCommand";
import { switchUpstreamArgs, switchUpstreamEnvironment } from "./runbook/plan";

/**
 * NginxUpstreamArgs describe the upstream block and the host whose nginx serves it.
 */
export interface NginxUpstreamArgs {
  /** Local (nginx on the Pulumi runner) or SSH. */
  readonly connection: ConnectionConfig;
  /** The nginx file holding the upstream block; other blocks in it are kept. */
  readonly file: string;
  readonly upstreamName: string;
  /** `http` for app servers, `stream` for a TCP proxy in front of MySQL. */
  readonly kind: UpstreamKind;
  /** The live side's servers, `host:port` each. */
  readonly servers: readonly string[];
  readonly testCommand: string;
  readonly reloadCommand: string;
  /** Lists the files nginx loads; default: testCommand with -t turned into -T. */
  readonly dumpCommand?: string;
  /** How the switch proves traffic moved (nginx.probe). */
  readonly probe: RollbackConfig["nginx"]["probe"];
  /** The target's database URL (secret), for the stream probe. */
  readonly probeDatabaseUrl: pulumi.Input<string>;
  readonly run: RunContext;
}

/**
 * The NginxUpstream component points an nginx upstream at the live side. The block is rendered
 * here by the same pure function scripts/switch-upstream.ts uses, so preview shows the exact
 * text and a change of it triggers the switch; the script writes it atomically, runs the test
 * command and reloads, proves through nginx that the new side answers (nginx.probe), and puts
 * the previous file back when any of it fails.
 */
export class NginxUpstream extends pulumi.ComponentResource {
  /** The upstream block as written. */
  public readonly text: string;

  constructor(name: string, args: NginxUpstreamArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:traffic:NginxUpstream", name, {}, opts);
    const servers = args.servers.map((s, i) => parseHostPort(s, `servers[${i}]`));
    this.text = renderUpstream({ name: args.upstreamName, kind: args.kind, servers });

    hostCommand(
      `${name}-switch`,
      {
        connection: args.connection,
        dir: args.run.projectDir,
        create: stepCommandLine("nginx-upstream", args.run, switchUpstreamArgs(args, servers)),
        environment: switchUpstreamEnvironment(args),
        triggers: [this.text, args.run.runId],
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.registerOutputs({ text: this.text });
  }
}
