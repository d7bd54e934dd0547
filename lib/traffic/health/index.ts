import type { Dsn } from "../../dsn";
import { RollbackError } from "../../errors";
import { checkCanary } from "./canary";
import { CheckResult } from "./check";
import { checkDisk, checkMemory } from "./host";
import { checkHttp } from "./http";
import { checkMysql } from "./mysql";

export type { CheckResult } from "./check";
export { canaryDdl, parseCanaryTable } from "./canary";
export { parseHttpUrl, redactUrl } from "./http";

export interface HealthOptions {
  /** The database for the MySQL and canary checks. */
  readonly dsn?: Dsn;
  readonly mysql?: boolean;
  readonly expectWritable?: boolean;
  readonly maxReplicaLagS?: number;
  readonly canaryTable?: string;
  readonly createCanary?: boolean;
  readonly http?: readonly string[];
  readonly expectStatus?: number;
  readonly expectBody?: string;
  readonly maxLatencyMs?: number;
  readonly disks?: readonly string[];
  readonly minDiskFreePct?: number;
  readonly minMemFreeMb?: number;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly passed: number;
  readonly failed: number;
  readonly checks: readonly CheckResult[];
}

/** Default free-space floor when --disk is given without --min-disk-free-pct. */
export const DEFAULT_MIN_DISK_FREE_PCT = 10;

/**
 * Runs every check asked for (R5: service, resources, app endpoints, read/write test), all of
 * them even when one fails, so the report shows the whole picture.
 */
export async function runHealth(o: HealthOptions): Promise<HealthReport> {
  const wantsDb = o.mysql || o.canaryTable !== undefined || o.expectWritable || o.maxReplicaLagS !== undefined;
  const planned: (() => Promise<CheckResult>)[] = [];
  if (wantsDb) {
    if (!o.dsn) throw new RollbackError("DSN_MISSING", "DATABASE_URL", "the MySQL checks need a database", "export DATABASE_URL");
    const dsn = o.dsn;
    planned.push(() => checkMysql({ dsn, expectWritable: o.expectWritable, maxReplicaLagS: o.maxReplicaLagS }));
    const table = o.canaryTable;
    if (table !== undefined) planned.push(() => checkCanary({ dsn, table, create: o.createCanary }));
  }
  for (const url of o.http ?? []) {
    planned.push(() => checkHttp({ url, expectStatus: o.expectStatus, expectBody: o.expectBody, maxLatencyMs: o.maxLatencyMs }));
  }
  for (const path of o.disks ?? []) planned.push(() => checkDisk(path, o.minDiskFreePct ?? DEFAULT_MIN_DISK_FREE_PCT));
  const minMemFreeMb = o.minMemFreeMb;
  if (minMemFreeMb !== undefined) planned.push(() => checkMemory(minMemFreeMb));
  if (planned.length === 0) {
    throw new RollbackError("ARGS_INVALID", "health", "no check was asked for", "give --mysql, --canary-table, --http, --disk or --min-mem-free-mb");
  }
  const checks: CheckResult[] = [];
  for (const run of planned) checks.push(await run());
  const failed = checks.filter((c) => !c.ok).length;
  return { ok: failed === 0, passed: checks.length - failed, failed, checks };
}
