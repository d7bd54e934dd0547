import * as pulumi from "@pulumi/pulumi";
import type { Endpoint, RollbackConfig } from "../../lib/config";
import type { Side } from "../../lib/dns-weights";
import { formatDsn } from "../../lib/dsn";
import { type CheckId, DATABASE_URL_ENV, type PreflightInputs, preflightInputs } from "../../lib/preflight";
import { parseUsers } from "../../lib/fence/accounts";
import { STEPS, type StepId } from "../../lib/runbook";
import type { ConnectionSecretArgs } from "../connectionSecret";
import type { DnsWeightsArgs } from "../dnsWeights";
import type { IdcMysqlArgs } from "../idcMysql";
import type { NginxUpstreamArgs } from "../nginxUpstream";
import type { DesiredState, RdsPowerArgs } from "../rdsPower";

/**
 * What each runbook step does, as pure functions of config and direction (STEP_PLANS). The
 * Runbook component turns the plans into resources and the drill runs them; tests read them
 * without Pulumi.
 */

/** The side the stack makes live (`target`) and the side it leaves (`source`). */
export interface Direction {
  readonly target: Side;
  readonly source: Side;
}

export function directionOf(target: Side): Direction {
  return { target, source: target === "idc" ? "aws" : "idc" };
}

/**
 * The steps in execution order. The rollback runs lib/runbook.ts STEPS as written, stopping
 * RDS last. The cutover cannot: every step after maintenance touches RDS (sync and verify
 * write to it, health checks it), so the RDS power step starts it first, before maintenance
 * begins, which also keeps its start-up time (minutes) out of the maintenance window.
 */
export function runbookOrder(target: Side): StepId[] {
  const ids = STEPS.map((s) => s.id);
  if (target === "idc") return ids;
  // Preflight changes nothing, so it still goes first: it knows a stopped RDS is what rds-power starts.
  return ["preflight", "rds-power", ...ids.filter((id) => id !== "rds-power" && id !== "preflight")];
}

/** The steps that copy the side being left onto the target and prove the copy. */
const COPY_BACK: readonly StepId[] = ["sync", "verify", "proof-check", "settle"];

/**
 * The steps this stack runs, in order: runbookOrder without `sync`, `verify` and the checks of its proof when
 * runbook.copyBack is false. Then the cut-over never took user traffic, IDC is still the
 * truth, and AWS may hold an incomplete load that a sync would copy over IDC (deleting every
 * row AWS lacks). The chain runs diff → connection-secret, so every traffic move still waits
 * for a successful diff (both databases reachable and comparable); its report records what
 * AWS lacks.
 */
export function plannedSteps(config: RollbackConfig): StepId[] {
  const order = runbookOrder(config.target);
  return config.runbook.copyBack ? order : order.filter((id) => !COPY_BACK.includes(id));
}

/** A database URL from config, as a secret Output (the password never leaves the Output). */
export function databaseUrl(e: Endpoint): pulumi.Output<string> {
  return pulumi.secret(e.password.apply((password) => formatDsn({ host: e.host, port: e.port, user: e.user, database: e.database, password, tls: e.tls })));
}

/**
 * What one step does, as data: the one table below (STEP_PLANS) maps every step id to it, the
 * Runbook component turns it into resources and the drill (lib/drill/runbook.ts) runs it. Each
 * consumer handles every `kind` (see `dispatch`), so a new kind or a new step cannot be
 * forgotten by one of them.
 */
export type StepPlan =
  | CommandPlan
  /** scripts/preflight.ts on the runner: the Runbook runs every check, the drill those that exist on one machine (preflightArgs). */
  | { readonly kind: "preflight"; readonly inputs: PreflightInputs; readonly environment: Record<string, pulumi.Input<string>> }
  | { readonly kind: "nginx-upstream"; readonly args: Omit<NginxUpstreamArgs, "run"> }
  | { readonly kind: "idc-health"; readonly args: Omit<IdcMysqlArgs, "run"> }
  | { readonly kind: "connection-secret"; readonly args: Omit<ConnectionSecretArgs, "run"> }
  | { readonly kind: "dns-weights"; readonly args: DnsWeightsArgs }
  | { readonly kind: "rds-power"; readonly args: Omit<RdsPowerArgs, "access"> }
  /** The run's report: the Runbook runs scripts/report.ts unwrapped, after every traffic step (reportCommandLine). */
  | { readonly kind: "report" };

export type StepKind = StepPlan["kind"];

/** A step run by a plain command resource of the Runbook (scripts/step.ts around the step's script). */
export interface CommandPlan {
  readonly kind: "command";
  /** `runner`: the Pulumi runner; `nginx`: the nginx host (local or SSH, per config). */
  readonly where: "runner" | "nginx";
  readonly args: readonly (string | number)[];
  readonly environment: Record<string, pulumi.Input<string>>;
  /** Exit codes that count as success (step.ts --ok-codes). */
  readonly okCodes?: readonly number[];
}

/** One handler per kind of `P`: what the Runbook and the drill each supply. */
export type Handlers<P extends StepPlan, R> = { readonly [K in P["kind"]]: (plan: Extract<P, { kind: K }>) => R };

/** Calls the handler of the plan's kind. */
export function dispatch<P extends StepPlan, R>(plan: P, handlers: Handlers<P, R>): R {
  return (handlers[plan.kind as P["kind"]] as (p: P) => R)(plan);
}

/** The environment of the data steps: which database is read (source) and which is written (target). */
function sourceAndTarget(config: RollbackConfig, d: Direction): Record<string, pulumi.Output<string>> {
  return { SOURCE_DATABASE_URL: databaseUrl(config[d.source]), TARGET_DATABASE_URL: databaseUrl(config[d.target]) };
}

function tableFlags(config: RollbackConfig): string[] {
  const { tables, exclude } = config.runbook;
  return [...(tables ? ["--tables", tables.join(",")] : []), ...(exclude ? ["--exclude", exclude.join(",")] : [])];
}

/** The sync's shrink guard (docs/data-engine.md): always explicit, so a preview shows the limit. */
function shrinkFlags(config: RollbackConfig): (string | number)[] {
  const { maxShrinkPct, allowShrink, cutoverProof } = config.runbook;
  return [
    "--max-shrink-pct", maxShrinkPct,
    ...(allowShrink?.length ? ["--allow-shrink", allowShrink.join(",")] : []),
    ...(cutoverProof ? ["--cutover-proof", cutoverProof] : []),
  ];
}

/**
 * Where the fence of one side keeps its record (lib/fence/record.ts): one file per side, not per
 * run, because the other stack's run lifts it (the cut-over fences IDC, the rollback unfences it).
 */
export function fenceRecord(config: RollbackConfig, side: Side): string {
  return `${config.runbook.timelineDir}/fence-${side}.json`;
}

function fenceFlags(config: RollbackConfig): (string | number)[] {
  const f = config.runbook.fence;
  return ["--users", f.users.join(","), "--method", f.method];
}

/** How many times proof-check re-syncs and re-verifies a side that moved after verify (runbook.fence.resyncOnMove). */
export const SETTLE_RESYNC_ROUNDS = 2;

function healthFlags(config: RollbackConfig): (string | number)[] {
  const h = config.runbook.health;
  const opt = (flag: string, v: string | number | undefined) => (v === undefined ? [] : [flag, v]);
  return [
    "--mysql",
    ...(h.expectWritable ? ["--expect-writable"] : []),
    ...opt("--canary-table", h.canaryTable),
    ...(h.createCanary ? ["--create-canary"] : []),
    ...h.http.flatMap((u) => ["--http", u]),
    ...opt("--expect-status", h.expectStatus),
    ...opt("--expect-body", h.expectBody),
    ...opt("--max-latency-ms", h.maxLatencyMs),
    ...h.disks.flatMap((d) => ["--disk", d]),
    ...opt("--min-disk-free-pct", h.minDiskFreePct),
    ...opt("--min-mem-free-mb", h.minMemFreeMb),
    "--json",
  ];
}

const command = (where: CommandPlan["where"], args: CommandPlan["args"], environment: CommandPlan["environment"] = {}, okCodes?: readonly number[]): CommandPlan => ({
  kind: "command",
  where,
  args,
  environment,
  ...(okCodes ? { okCodes } : {}),
});

/** The state RDS is put in: stopped (with a final snapshot) by the rollback, available for the cutover. */
export function rdsDesiredState(target: Side): DesiredState {
  return target === "idc" ? "stopped" : "available";
}

/**
 * The step → plan table: what each runbook step does, as a pure function of the validated
 * config and the direction. A `Record` over StepId, so a step added to lib/runbook.ts without
 * an entry here does not compile.
 */
export const STEP_PLANS: Readonly<Record<StepId, (config: RollbackConfig, d: Direction) => StepPlan>> = {
  preflight: (c) => ({ kind: "preflight", inputs: preflightInputs(c), environment: { [DATABASE_URL_ENV.idc]: databaseUrl(c.idc), [DATABASE_URL_ENV.aws]: databaseUrl(c.aws) } }),
  "maintenance-on": (c, d) => command("nginx", ["on", "--flag", c.nginx.maintenanceFlag, "--reason", `${d.target === "idc" ? "rollback" : "cutover"} to ${d.target}`, "--json"]),
  // The side being left: AWS in the rollback, IDC in the cut-over (nobody may write to IDC while
  // AWS is live: the rollback's sync would delete those rows). REPLICA_DATABASE_URL: the side
  // traffic moves to, whose replication is a guardrail.
  fence: (c, d) =>
    command(
      "runner",
      [
        "on", ...fenceFlags(c),
        "--timeout", c.runbook.fence.timeoutSeconds,
        "--quiet-s", c.runbook.fence.quietSeconds,
        "--max-transaction-s", c.runbook.fence.maxTransactionSeconds,
        "--record", fenceRecord(c, d.source),
        "--json",
      ],
      { DATABASE_URL: databaseUrl(c[d.source]), REPLICA_DATABASE_URL: databaseUrl(c[d.target]) },
    ),
  // In-flight transactions run on the side being left.
  drain: (c, d) =>
    command("runner", ["--timeout", c.runbook.drainTimeoutSeconds, ...(c.runbook.drainKill ? ["--kill"] : []), "--json"], { DATABASE_URL: databaseUrl(c[d.source]) }),
  "idc-health": (c) => ({ kind: "idc-health", args: { ...c.idcMysql, databaseUrl: databaseUrl(c.idc) } }),
  "backup-check": (c) =>
    command("runner", ["verify", ...c.runbook.backupPaths, "--max-age-hours", c.runbook.backupMaxAgeHours, ...(c.runbook.tables ? ["--tables", c.runbook.tables.join(",")] : []), "--json"]),
  // Differences are expected before the sync (exit 1); only an error (2) stops the run.
  diff: (c, d) => command("runner", [...tableFlags(c), "--json"], sourceAndTarget(c, d), [0, 1]),
  sync: (c, d) => command("runner", [...tableFlags(c), ...shrinkFlags(c), "--json"], sourceAndTarget(c, d)),
  verify: (c, d) => command("runner", [...tableFlags(c), ...(c.runbook.chunkSize ? ["--chunk-size", c.runbook.chunkSize] : []), "--json"], sourceAndTarget(c, d)),
  // The same check right after verify, while the target takes no writes yet: with resyncOnMove a
  // moved side is synced and verified again (the re-sync is safe only before traffic moves).
  "proof-check": (c, d) =>
    command(
      "runner",
      ["check", ...fenceFlags(c), ...(c.runbook.fence.resyncOnMove ? ["--resync-on-move", SETTLE_RESYNC_ROUNDS, ...tableFlags(c), ...shrinkFlags(c)] : []), "--json"],
      { DATABASE_URL: databaseUrl(c[d.source]), ...(c.runbook.fence.resyncOnMove ? sourceAndTarget(c, d) : {}) },
    ),
  // The fence the other stack's run left on the side traffic moves to (none: nothing to lift).
  unfence: (c, d) => command("runner", ["off", ...fenceFlags(c), "--record", fenceRecord(c, d.target), "--json"], { DATABASE_URL: databaseUrl(c[d.target]) }),
  "connection-secret": (c, d) => {
    const live = c[d.target];
    return {
      kind: "connection-secret",
      args: {
        store: c.connectionSecret.store,
        secretId: c.connectionSecret.id,
        format: c.connectionSecret.format,
        endpoint: { host: live.host, port: live.port, database: live.database, user: live.user },
        password: live.password,
        extras: c.connectionSecret.extras,
        recycleCommand: c.connectionSecret.recycleCommand,
        kmsKeyId: c.connectionSecret.kmsKeyId,
        // The app's accounts are the fence's (runbook.fence.users); matched by name on both sides.
        sessions: c.connectionSecret.recycleCommand
          ? {
              args: ["--users", parseUsers(c.runbook.fence.users).map((u) => u.name).join(","), "--timeout", c.connectionSecret.sessionsTimeoutSeconds, "--json"],
              environment: sourceAndTarget(c, d),
            }
          : undefined,
      },
    };
  },
  "nginx-upstream": (c, d) => ({
    kind: "nginx-upstream",
    args: {
      connection: c.nginx.connection,
      file: c.nginx.file,
      upstreamName: c.nginx.upstreamName,
      kind: c.nginx.kind,
      servers: d.target === "idc" ? c.nginx.idcServers : c.nginx.awsServers,
      testCommand: c.nginx.testCommand,
      reloadCommand: c.nginx.reloadCommand,
      dumpCommand: c.nginx.dumpCommand,
      probe: c.nginx.probe,
      // The stream probe asks the new side's servers who they are, as the runbook's user there.
      probeDatabaseUrl: databaseUrl(c[d.target]),
    },
  }),
  health: (c, d) => command("runner", healthFlags(c), { DATABASE_URL: databaseUrl(c[d.target]) }),
  "dns-weights": (c, d) => ({ kind: "dns-weights", args: { ...c.route53, target: d.target } }),
  "maintenance-off": (c) => command("nginx", ["off", "--flag", c.nginx.maintenanceFlag, "--json"]),
  // fence check against the position verify proved identical (read from the run's timeline, which
  // step.ts passes as ROLLBACK_TIMELINE). Never a re-sync: the target is live by now.
  settle: (c, d) => command("runner", ["check", ...fenceFlags(c), "--json"], { DATABASE_URL: databaseUrl(c[d.source]) }),
  "rds-power": (c, d) => {
    const { stopGuard, ...r } = c.rds;
    return {
      kind: "rds-power",
      args: {
        instanceId: r.instanceId,
        region: r.region,
        desiredState: rdsDesiredState(d.target),
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
    };
  },
  report: () => ({ kind: "report" }),
};

/** preflight.ts's arguments: the resolved (non-secret) values, and the checks to run (all when `only` is absent). */
export function preflightArgs(inputs: PreflightInputs, only?: readonly CheckId[]): string[] {
  return ["--inputs-json", JSON.stringify(inputs), ...(only ? ["--only", only.join(",")] : []), "--json"];
}

/** The plan of one step of this stack. */
export function planStep(step: StepId, config: RollbackConfig, d: Direction = directionOf(config.target)): StepPlan {
  return STEP_PLANS[step](config, d);
}

/**
 * switch-upstream.ts's arguments. The NginxUpstream component runs them and the drill runs the
 * same list, so what the drill rehearses is what `pulumi up` does.
 */
export function switchUpstreamArgs(
  nginx: Pick<NginxUpstreamArgs, "file" | "upstreamName" | "kind" | "testCommand" | "reloadCommand" | "dumpCommand" | "probe" | "connection">,
  servers: readonly { readonly host: string; readonly port: number }[],
): (string | number)[] {
  const p = nginx.probe;
  return [
    "--file", nginx.file,
    "--name", nginx.upstreamName,
    "--servers", servers.map((s) => `${s.host}:${s.port}`).join(","),
    "--kind", nginx.kind,
    "--test-cmd", nginx.testCommand,
    "--reload-cmd", nginx.reloadCommand,
    ...(nginx.dumpCommand ? ["--dump-cmd", nginx.dumpCommand] : []),
    // Always a probe (the config requires one of the kind): the switch proves traffic moved.
    ...(nginx.kind === "http" ? ["--probe-url", p.url!, "--probe-expect", p.expect!] : ["--probe-mysql", p.mysql!]),
    ...(nginx.kind === "stream" && nginx.connection.mode === "ssh" ? ["--probe-credentials", p.credentialsFile!] : []),
    "--probe-timeout", p.timeoutSeconds,
    "--json",
  ];
}

/** switch-upstream.ts's environment: the stream probe's credentials, on a local run (over SSH they come from probe.credentialsFile). */
export function switchUpstreamEnvironment(nginx: Pick<NginxUpstreamArgs, "kind" | "connection" | "probeDatabaseUrl">): Record<string, pulumi.Input<string>> {
  return nginx.kind === "stream" && nginx.connection.mode === "local" ? { PROBE_DATABASE_URL: nginx.probeDatabaseUrl } : {};
}

/** idc-mysql.ts's arguments, for the IdcMysql component's health command and the drill. */
export function idcHealthArgs(i: { readonly restartIfUnhealthy: boolean; readonly containerName: string; readonly waitTimeoutSeconds: number }): (string | number)[] {
  return [i.restartIfUnhealthy ? "restart" : "check", "--container", i.containerName, "--timeout", i.waitTimeoutSeconds, "--json"];
}

/** idc-mysql.ts's environment: the docker daemon to ask, and the database that must answer. */
export function idcHealthEnvironment(i: { readonly dockerHost: string; readonly databaseUrl: pulumi.Output<string> }): Record<string, pulumi.Output<string> | string> {
  return { DOCKER_HOST: i.dockerHost, DATABASE_URL: i.databaseUrl };
}
