import * as pulumi from "@pulumi/pulumi";
import type { Endpoint, RollbackConfig } from "../../lib/config";
import type { Side } from "../../lib/dns-weights";
import { formatDsn } from "../../lib/dsn";
import type { UpstreamKind } from "../../lib/nginx-upstream";
import { STEPS, type StepId } from "../../lib/runbook";

/**
 * What each runbook step runs, as pure functions of config and direction. The Runbook
 * component turns these into command resources; tests read them without Pulumi.
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
  return ["rds-power", ...ids.filter((id) => id !== "rds-power")];
}

/** The steps that copy the side being left onto the target and prove the copy. */
const COPY_BACK: readonly StepId[] = ["sync", "verify"];

/**
 * The steps this stack runs, in order: runbookOrder without `sync` and `verify` when
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
  return pulumi.secret(e.password.apply((password) => formatDsn({ host: e.host, port: e.port, user: e.user, database: e.database, password })));
}

/** A step run by a plain command resource of the Runbook (not by a traffic component). */
export interface ScriptStep {
  /** `runner`: the Pulumi runner; `nginx`: the nginx host (local or SSH, per config). */
  readonly where: "runner" | "nginx";
  readonly args: readonly (string | number)[];
  readonly environment: Record<string, pulumi.Input<string>>;
  /** Exit codes that count as success (step.ts --ok-codes). */
  readonly okCodes?: readonly number[];
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
  const { maxShrinkPct, allowShrink } = config.runbook;
  return ["--max-shrink-pct", maxShrinkPct, ...(allowShrink?.length ? ["--allow-shrink", allowShrink.join(",")] : [])];
}

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

/**
 * The arguments and environment of a step run by a plain command of the Runbook, or undefined
 * for the steps a component performs (connection-secret, nginx-upstream, dns-weights, rds-power,
 * idc-health) and for `report`, which the Runbook runs unwrapped (it reads the timeline the
 * other steps write; see reportCommandLine).
 */
export function scriptStep(step: StepId, config: RollbackConfig, d: Direction): ScriptStep | undefined {
  const flag = config.nginx.maintenanceFlag;
  switch (step) {
    case "maintenance-on":
      return { where: "nginx", args: ["on", "--flag", flag, "--reason", `${d.target === "idc" ? "rollback" : "cutover"} to ${d.target}`, "--json"], environment: {} };
    case "drain":
      return {
        where: "runner",
        args: ["--timeout", config.runbook.drainTimeoutSeconds, ...(config.runbook.drainKill ? ["--kill"] : []), "--json"],
        // In-flight transactions run on the side being left.
        environment: { DATABASE_URL: databaseUrl(config[d.source]) },
      };
    case "backup-check":
      return {
        where: "runner",
        args: ["verify", ...config.runbook.backupPaths, "--max-age-hours", config.runbook.backupMaxAgeHours, ...(config.runbook.tables ? ["--tables", config.runbook.tables.join(",")] : []), "--json"],
        environment: {},
      };
    case "diff":
      // Differences are expected before the sync (exit 1); only an error (2) stops the run.
      return { where: "runner", args: [...tableFlags(config), "--json"], environment: sourceAndTarget(config, d), okCodes: [0, 1] };
    case "sync":
      return { where: "runner", args: [...tableFlags(config), ...shrinkFlags(config), "--json"], environment: sourceAndTarget(config, d) };
    case "verify":
      return {
        where: "runner",
        args: [...tableFlags(config), ...(config.runbook.chunkSize ? ["--chunk-size", config.runbook.chunkSize] : []), "--json"],
        environment: sourceAndTarget(config, d),
      };
    case "health":
      return { where: "runner", args: healthFlags(config), environment: { DATABASE_URL: databaseUrl(config[d.target]) } };
    case "maintenance-off":
      return { where: "nginx", args: ["off", "--flag", flag, "--json"], environment: {} };
    default:
      return undefined;
  }
}

/**
 * switch-upstream.ts's arguments. The NginxUpstream component runs them and the drill runs the
 * same list, so what the drill rehearses is what `pulumi up` does.
 */
export function switchUpstreamArgs(
  nginx: { readonly file: string; readonly upstreamName: string; readonly kind: UpstreamKind; readonly testCommand: string; readonly reloadCommand: string },
  servers: readonly { readonly host: string; readonly port: number }[],
): (string | number)[] {
  return [
    "--file", nginx.file,
    "--name", nginx.upstreamName,
    "--servers", servers.map((s) => `${s.host}:${s.port}`).join(","),
    "--kind", nginx.kind,
    "--test-cmd", nginx.testCommand,
    "--reload-cmd", nginx.reloadCommand,
    "--json",
  ];
}

/** idc-mysql.ts's arguments, for the IdcMysql component's health command and the drill. */
export function idcHealthArgs(i: { readonly restartIfUnhealthy: boolean; readonly containerName: string; readonly waitTimeoutSeconds: number }): (string | number)[] {
  return [i.restartIfUnhealthy ? "restart" : "check", "--container", i.containerName, "--timeout", i.waitTimeoutSeconds, "--json"];
}
