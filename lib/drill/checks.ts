import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Dsn } from "../dsn";
import { SavedTrigger, readTriggers, triggerDefinition } from "../data/triggers";
import { connect } from "../mysql";
import type { Notifier } from "../notify";
import { CHECK } from "../report";
import { obj } from "../report/evidence";
import { appendEntry, TimelineEntry } from "../timeline";
import { DrillEnvironment, runScript } from "./environment";
import type { ClientStats, LedgerCheck, LoadGenerator } from "./load";
import { DATABASE } from "./shop";
import type { View } from "./view";

/**
 * The checks after the rollback (plan §6), each recorded in the timeline next to the runbook's
 * steps so that scripts/report.ts judges them: what users saw, performance compared, the written
 * rows, a fresh backup, the logs, the notifications.
 */

/** What users saw in a window: requests, errors, response times of what the app answered. */
export interface ClientWindow {
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

export type Clients = ClientStats & { beforeCutover: ClientWindow; afterRollback: ClientWindow };

/** Where the logs stood when the rollback started: only what was written since is scanned. */
export interface LogMarks {
  readonly idc: number;
  readonly nginx: number;
}

const sizeOf = async (path: string) => (await stat(path).catch(() => ({ size: 0 }))).size;
const idcLog = (env: DrillEnvironment) => join(env.idc.datadir, "error.log");

export async function markLogs(env: DrillEnvironment): Promise<LogMarks> {
  return { idc: await sizeOf(idcLog(env)), nginx: await sizeOf(env.nginx.errorLogPath) };
}

/** Lines of a log written since `offset` that report errors. */
async function logErrors(path: string, offset: number, pattern: RegExp): Promise<{ errors: number; samples: string[] }> {
  const text = (await readFile(path).catch(() => Buffer.alloc(0))).subarray(offset).toString();
  const lines = text.split("\n").filter((l) => pattern.test(l));
  return { errors: lines.length, samples: lines.slice(0, 3).map((l) => l.slice(0, 200)) };
}

/**
 * Waits (up to `timeoutMs`) until a server has no purge backlog and stopped flushing: InnoDB's
 * history list is (nearly) empty and the dirty page count holds still for half a second.
 */
async function settle(dsn: Dsn, timeoutMs = 10_000): Promise<void> {
  const c = await connect(dsn);
  try {
    const status = async () => {
      const [rows] = await c.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_history_list_length', 'Innodb_buffer_pool_pages_dirty')");
      const m = new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, Number(r.Value)]));
      return { history: m.get("Innodb_history_list_length") ?? 0, dirty: m.get("Innodb_buffer_pool_pages_dirty") ?? 0 };
    };
    const deadline = Date.now() + timeoutMs;
    let last = await status();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await status();
      if (now.history <= 50 && now.dirty === last.dirty) return;
      last = now;
    }
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface CheckInput {
  readonly env: DrillEnvironment;
  readonly load: LoadGenerator;
  readonly timeline: string;
  readonly view: View;
  readonly notifier: Notifier;
  readonly webhook: boolean;
  /** Users on IDC before the cut-over (the response-time baseline). */
  readonly baseline: ClientStats;
  /** From the decision on; and from maintenance-off on (the restored service). */
  readonly rollbackFrom: number;
  readonly afterFrom: number;
  readonly logMarks: LogMarks;
  /** IDC's triggers before the cut-over (readShopTriggers). */
  readonly triggersBefore: readonly SavedTrigger[];
  /** Set when AWS served users and the rollback completed: then IDC and AWS are probed side by side. */
  readonly probe?: { queries: string; runs: number };
}

/** The shop's triggers on IDC after the rollback, against IDC's own before it and against AWS's. */
export interface TriggerCheck {
  readonly idc: string[];
  readonly aws: string[];
  /** Each of IDC's triggers exactly as before the rollback: definer, sql_mode, character set, collations, order, body. */
  readonly asBefore: boolean;
  /** IDC's triggers do what AWS's do: same tables, timing, event, order, sql_mode, character set and body. */
  readonly asOnAws: boolean;
}

/** IDC's triggers, read before the rollback so that the check after it has something to hold them to. */
export async function readShopTriggers(dsn: Dsn): Promise<SavedTrigger[]> {
  const c = await connect(dsn);
  return readTriggers(c, DATABASE).finally(() => c.end());
}

/**
 * The sync dropped IDC's triggers for the copy (lib/data/triggers.ts): they must be back as they
 * were. Against AWS, DEFINER and the database collation are left out: each side's migration
 * created them with its own root account (root@% in the IDC container, root@localhost on the
 * plain process) in a database of its server's default character set, as on real servers.
 */
async function checkTriggers(env: DrillEnvironment, before: readonly SavedTrigger[]): Promise<TriggerCheck> {
  const [idc, aws] = await Promise.all([readShopTriggers(env.idc.dsn(DATABASE)), readShopTriggers(env.aws.dsn(DATABASE))]);
  const exact = (ts: readonly SavedTrigger[]) => JSON.stringify(ts.map((t) => [t.name, triggerDefinition(t)]).sort());
  const behaviour = (ts: readonly SavedTrigger[]) =>
    JSON.stringify(ts.map((t) => [t.name, t.table, t.timing, t.event, t.actionOrder, t.sqlMode, t.characterSetClient, t.collationConnection, t.body]).sort());
  const names = (ts: readonly SavedTrigger[]) => ts.map((t) => t.name).sort();
  return { idc: names(idc), aws: names(aws), asBefore: exact(idc) === exact(before), asOnAws: behaviour(idc) === behaviour(aws) };
}

export interface Checked {
  readonly clients: Clients;
  readonly ledger: LedgerCheck;
  readonly triggers: TriggerCheck;
  readonly notifications: { sent: number; failed: number; webhook: boolean };
}

const window = (w: ClientStats): ClientWindow => ({ requests: w.requests, errors: w.errors, p50Ms: w.p50Ms, p95Ms: w.p95Ms });

export async function checkAfterRollback(i: CheckInput): Promise<Checked> {
  const { env, view } = i;
  const record = (step: string, report: unknown, status: TimelineEntry["status"] = "ok", startedAt = Date.now()) =>
    appendEntry(i.timeline, { step, phase: "verification", startedAt: new Date(startedAt).toISOString(), durationMs: Date.now() - startedAt, budgetMs: null, status, exitCode: null, report });

  // Users keep working on the restored service for a few seconds ("users can reach it"), then stop.
  await new Promise((r) => setTimeout(r, Math.max(0, i.afterFrom + 3_000 - Date.now())));
  await i.load.stop();
  const now = Date.now();
  // "Performance compared" as users see it: the same users and app on IDC, before and after.
  const clients: Clients = { ...i.load.stats(i.rollbackFrom, now), beforeCutover: window(i.baseline), afterRollback: window(i.load.stats(i.afterFrom, now)) };
  await record(CHECK.clients, clients);

  if (i.probe) {
    // ... and judged where no machine load can skew it: the restored IDC against the AWS it
    // replaced, the same queries interleaved, each on the operator's direct path, once both are
    // quiet. IDC just took the users' writes: until InnoDB has purged them its background threads
    // compete with the probe's queries, which shows as IDC "slower" on a busy machine.
    await Promise.all([settle(env.idc.dsn(DATABASE)), settle(env.aws.dsn(DATABASE))]);
    await runScript(
      view,
      "scripts/decide.ts",
      ["--probe", i.probe.queries, "--runs", String(i.probe.runs), "--baseline-label", "aws", "--candidate-label", "idc", "--phase", "verification", "--timeline", i.timeline, "--json"],
      { BASELINE_DATABASE_URL: env.url("aws", "direct"), CANDIDATE_DATABASE_URL: env.url("idc", "direct") },
      [0, 1],
    );
  }

  const c = await connect(env.idc.dsn(DATABASE));
  const ledger = await i.load.check(c).finally(() => c.end());
  await record(CHECK.lostRows, ledger, ledger.lost === 0 && ledger.resurrected === 0 ? "ok" : "failed");
  const triggers = await checkTriggers(env, i.triggersBefore);

  const fresh = join(env.backupDir, "after-rollback");
  const backupStart = Date.now();
  const created = await runScript(view, "scripts/backup.ts", ["create", "--out", fresh, "--json"], { DATABASE_URL: env.url("idc", "direct") });
  const verified = await runScript(view, "scripts/backup.ts", ["verify", fresh, "--json"], {}, [0, 1]);
  const valid = verified.code === 0;
  await record(
    CHECK.backupAfter,
    { ok: valid, summary: `created ${fresh} (${String(obj(created.report)?.rows)} rows) and verified it: ${valid ? "valid" : "INVALID"}` },
    valid ? "ok" : "failed",
    backupStart,
  );

  await record(CHECK.logs, {
    files: [
      { name: `IDC ${env.serverNames.idc} error log`, ...(await logErrors(idcLog(env), i.logMarks.idc, /\[ERROR\]/)) },
      { name: "nginx error log", ...(await logErrors(env.nginx.errorLogPath, i.logMarks.nginx, /\[(error|crit|alert|emerg)\]/)) },
      { name: "app logs", errors: [...env.apps.aws.log, ...env.apps.idc.log].filter((l) => /failed|error/i.test(l)).length, samples: [] },
    ],
  });
  const notifications = {
    sent: i.notifier.deliveries.filter((d) => d.ok).length,
    failed: i.notifier.deliveries.filter((d) => !d.ok).length,
    webhook: i.webhook,
  };
  await record(CHECK.notifications, notifications);
  return { clients, ledger, triggers, notifications };
}
