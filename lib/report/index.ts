import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { Contacts, ContactsSchema } from "../contacts";
import type { Decision } from "../decision";
import { RollbackError } from "../errors";
import { STEPS } from "../runbook";
import { DEFAULT_THRESHOLDS, Thresholds } from "../thresholds";
import { PhaseTiming, TimelineEntry, didNotFinish, lastEntry, phaseTimings } from "../timeline";
import { CHECK, ChecklistItem, checklist } from "./checklist";
import { obj, summarizeReport, verifySummary } from "./evidence";
import { Changes, FollowUp, followUps } from "./followups";
import { renderMarkdown } from "./markdown";
import { redactDeep, secretValues } from "./redact";

export { CHECK } from "./checklist";
export type { Changes } from "./followups";

/** The rollback report (R6–R8): everything report.md shows, as data (timeline.json). */
export interface RollbackReport {
  readonly title: string;
  readonly generatedAt: string;
  /** Every runbook step that ran succeeded and every checklist item passed. */
  readonly ok: boolean;
  readonly startedAt: string | null;
  readonly durationMs: number;
  readonly phases: PhaseTiming[];
  readonly steps: { step: string; phase: string; status: string; durationMs: number; exitCode: number | null; summary: string; note?: string }[];
  /** Runbook steps whose last attempt failed. */
  readonly failedSteps: string[];
  readonly changes: { layer: string; where: string; change: string }[];
  readonly decision: Decision | null;
  readonly verification: { identical: boolean; mismatchPct: number | null; rowsCompared: number | null } | null;
  readonly checklist: ChecklistItem[];
  readonly followUps: FollowUp[];
  readonly contacts: Contacts | null;
  readonly entries: TimelineEntry[];
}

const ChangesSchema = z
  .object({
    dnsWeights: z.object({ idc: z.number(), aws: z.number() }).strict().optional(),
    nginxUpstream: z.string().optional(),
    connectionSecretArn: z.string().optional(),
    rdsDesiredState: z.string().optional(),
  })
  .strict();

/** Parses a JSON env var against a schema; errors name the variable and the key, never the value. */
function jsonEnv<T>(name: string, text: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RollbackError("ENV_INVALID", name, "is not JSON");
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new RollbackError("ENV_INVALID", `${name}.${issue.path.join(".")}`, issue.message);
  }
  return r.data;
}

export function changesFromEnv(env: NodeJS.ProcessEnv = process.env): Changes {
  return jsonEnv("ROLLBACK_CHANGES", env.ROLLBACK_CHANGES, ChangesSchema) ?? {};
}

export function contactsFromEnv(env: NodeJS.ProcessEnv = process.env): Contacts | undefined {
  return jsonEnv("ROLLBACK_CONTACTS", env.ROLLBACK_CONTACTS, ContactsSchema);
}

/** What changed where: the Pulumi-managed layers (ROLLBACK_CHANGES) and what the steps report. */
function changeList(entries: readonly TimelineEntry[], changes: Changes): RollbackReport["changes"] {
  const out: RollbackReport["changes"] = [];
  if (changes.connectionSecretArn) out.push({ layer: "app connection", where: changes.connectionSecretArn, change: "secret points at IDC (new AWSCURRENT version)" });
  const upstream = lastEntry(entries, "nginx-upstream");
  if (changes.nginxUpstream || upstream) {
    const r = obj(upstream?.report);
    out.push({ layer: "nginx upstream", where: String(r?.file ?? "nginx host"), change: (changes.nginxUpstream ?? summarizeReport(upstream?.report)).trim() });
  }
  if (changes.dnsWeights) out.push({ layer: "Route53", where: "weighted records", change: `idc ${changes.dnsWeights.idc}, aws ${changes.dnsWeights.aws}` });
  const sync = lastEntry(entries, "sync");
  if (sync) out.push({ layer: "IDC MySQL", where: "tables synced from AWS", change: summarizeReport(sync.report) });
  if (changes.rdsDesiredState) out.push({ layer: "AWS RDS", where: "instance", change: changes.rdsDesiredState });
  return out;
}

export interface BuildOptions {
  readonly title: string;
  readonly changes?: Changes;
  readonly contacts?: Contacts;
  readonly thresholds?: Thresholds;
  readonly now?: Date;
  /** Secret values to scrub (default: from the environment). */
  readonly secrets?: readonly string[];
}

export function buildReport(entries: readonly TimelineEntry[], opts: BuildOptions): RollbackReport {
  // scripts/decide.ts --json prints the Decision itself (plus its measurements).
  const d = obj(lastEntry(entries, CHECK.decide)?.report);
  const decision = d && Array.isArray(d.criteria) ? (d as unknown as Decision) : null;
  const thresholds = opts.thresholds ?? decision?.thresholds ?? DEFAULT_THRESHOLDS;
  const phases = phaseTimings(entries);
  const items = checklist(entries, thresholds);
  const changes = opts.changes ?? {};
  const verify = verifySummary(lastEntry(entries, "verify")?.report);
  const runbook = entries.filter((e) => STEPS.some((s) => s.id === e.step));
  const starts = entries.map((e) => Date.parse(e.startedAt));
  const ends = entries.map((e) => Date.parse(e.startedAt) + e.durationMs);
  const failedSteps = STEPS.filter((s) => didNotFinish(lastEntry(entries, s.id))).map((s) => s.id);
  const report: RollbackReport = {
    title: opts.title,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    ok: runbook.length > 0 && failedSteps.length === 0 && items.every((i) => i.pass),
    startedAt: starts.length ? new Date(Math.min(...starts)).toISOString() : null,
    durationMs: starts.length ? Math.max(...ends) - Math.min(...starts) : 0,
    phases,
    steps: entries.map((e) => ({
      step: e.step,
      phase: e.phase,
      status: e.status,
      durationMs: e.durationMs,
      exitCode: e.exitCode,
      summary: summarizeReport(e.report),
      ...(e.note ? { note: e.note } : {}),
    })),
    failedSteps,
    changes: changeList(entries, changes),
    decision,
    verification: verify ? { identical: verify.identical, mismatchPct: verify.mismatchPct ?? null, rowsCompared: verify.rowsCompared ?? null } : null,
    checklist: items,
    followUps: followUps({ entries, phases, checklist: items, decision: decision ?? undefined, changes, contacts: opts.contacts }),
    contacts: opts.contacts ?? null,
    entries: [...entries],
  };
  return redactDeep(report, opts.secrets ?? secretValues());
}

export interface ReportFiles {
  readonly timelineJson: string;
  readonly reportMd: string;
}

/** Writes timeline.json (the report as data, with every entry) and report.md into `dir`. */
export async function writeReport(dir: string, report: RollbackReport): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const files = { timelineJson: resolve(join(dir, "timeline.json")), reportMd: resolve(join(dir, "report.md")) };
  await writeFile(files.timelineJson, JSON.stringify(report, null, 2) + "\n");
  await writeFile(files.reportMd, renderMarkdown(report));
  return files;
}
