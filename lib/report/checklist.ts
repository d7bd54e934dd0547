import { degradationPct } from "../perf";
import { STEPS } from "../runbook";
import { DEFAULT_THRESHOLDS, Thresholds } from "../thresholds";
import { TimelineEntry, didNotFinish, lastEntry } from "../timeline";
import { arr, backupChoice, bool, count, describeCheck, describeFence, describeVerify, healthChecks, ms, num, obj, pct, str, syncCounts, verifySummary } from "./evidence";

/**
 * The plan's §6 verification checklist (R7) from the timeline: each item pass or fail with the
 * evidence it was judged on. An item nothing measured fails and says what would measure it: a
 * checklist that passes by default is the failure the plan's checklist exists to prevent.
 */
export type ChecklistId = "data-completeness" | "performance" | "app-works" | "reachability" | "monitoring" | "backups" | "logs";

export interface ChecklistItem {
  readonly id: ChecklistId;
  /** The plan's wording (§6). */
  readonly title: string;
  readonly pass: boolean;
  /** False when nothing judged the item (it then fails as "not measured"). */
  readonly measured: boolean;
  readonly evidence: string[];
}

/**
 * Entries recorded next to the runbook's steps (phases "decision" and "verification"): the
 * decision, performance probes, what clients saw, the written-rows check, a fresh backup, a log
 * scan, and notification deliveries (lib/drill writes them; scripts/decide.ts the first two). Runs without them (a plain `pulumi up`) still get a report;
 * the items they feed then fail as "not measured".
 */
export const CHECK = {
  decide: "decide",
  perf: "perf",
  clients: "clients",
  lostRows: "lost-rows",
  backupAfter: "backup-after",
  logs: "logs",
  notifications: "notifications",
} as const;

/** A piece of evidence; `info` ones are shown but judge nothing (a step deliberately not run says why). */
type Result = { ok: boolean; evidence: string; info?: boolean };

function item(id: ChecklistId, title: string, results: Result[], missing: string): ChecklistItem {
  const judged = results.filter((r) => !r.info);
  if (judged.length === 0) return { id, title, pass: false, measured: false, evidence: [`not measured: ${missing}`, ...results.map((r) => `· ${r.evidence}`)] };
  return { id, title, pass: judged.every((r) => r.ok), measured: true, evidence: results.map((r) => `${r.info ? "·" : r.ok ? "✓" : "✗"} ${r.evidence}`) };
}

/** The last entry of `step` in a given pseudo-phase (a perf probe is taken before and after). */
function lastIn(entries: readonly TimelineEntry[], step: string, phase: string): TimelineEntry | undefined {
  return lastEntry(
    entries.filter((e) => e.phase === phase),
    step,
  );
}

function dataCompleteness(entries: readonly TimelineEntry[]): Result[] {
  const out: Result[] = [];
  const verify = lastEntry(entries, "verify");
  const v = verifySummary(verify?.report);
  const diff = lastEntry(entries, "diff");
  if (!verify && diff) {
    // runbook.copyBack false: no sync, no verify; the diff records how AWS differs from IDC.
    const d = verifySummary(diff.report);
    out.push({ ok: true, info: true, evidence: `no copy-back (runbook.copyBack false); diff step: ${d ? describeVerify(d) : `exit ${diff.exitCode}`}` });
  } else if (verify) out.push({ ok: verify.status === "ok" && v?.identical === true, evidence: `verify step: ${v ? describeVerify(v) : `no report (exit ${verify.exitCode})`}` });
  const syncEntry = lastEntry(entries, "sync");
  // A verify proves the data as it was when it ran: a sync after it (a rerun that failed half-way
  // writes some chunks) leaves data the verify never saw.
  if (syncEntry && verify && Date.parse(verify.startedAt) < Date.parse(syncEntry.startedAt)) {
    out.push({ ok: false, evidence: `the latest verify (${verify.startedAt}) ran before the latest sync (${syncEntry.startedAt}): it does not prove the data as that sync left it` });
  }
  if (didNotFinish(syncEntry)) out.push({ ok: false, evidence: `sync step ${syncEntry!.status} (exit ${syncEntry!.exitCode}) at ${syncEntry!.startedAt}: the copy-back did not finish` });
  const sync = syncCounts(syncEntry?.report);
  if (sync) out.push({ ok: sync.identical !== false, evidence: `sync step copied back: ${summarySync(sync)}` });
  // Verify proves the data at one commit position of the side being left; settle (fence check)
  // proves nothing was written there after it (issue 11). Without it a late write is not ruled out.
  const settle = lastEntry(entries, "settle");
  if (settle) {
    out.push({ ok: settle.status === "ok" && obj(settle.report)?.ok === true, evidence: `no write after the proof (settle): ${describeFence(settle.report) ?? `exit ${settle.exitCode}`}` });
  } else if (verify) {
    out.push({ ok: false, evidence: "no write after the proof: not checked (no settle step in the timeline)" });
  }
  const lost = obj(lastEntry(entries, CHECK.lostRows)?.report);
  if (lost) {
    const n = num(lost.lost) ?? NaN;
    out.push({
      ok: n === 0,
      evidence: `written-rows check: ${count(num(lost.checked))} acknowledged writes checked on IDC, ${count(num(lost.lost))} lost${
        arr(lost.sampleKeys).length ? ` (e.g. ${arr(lost.sampleKeys).slice(0, 5).join(", ")})` : ""
      }`,
    });
  }
  return out;
}

function summarySync(s: { inserted: number; updated: number; deleted: number }): string {
  return `inserted ${count(s.inserted)}, updated ${count(s.updated)}, deleted ${count(s.deleted)}`;
}

function performance(entries: readonly TimelineEntry[], t: Thresholds): Result[] {
  const out: Result[] = [];
  for (const phase of ["decision", "verification"]) {
    const r = obj(lastIn(entries, CHECK.perf, phase)?.report);
    const d = num(r?.degradationPct);
    if (!r || d === undefined) continue;
    const b = str(r.baselineLabel) ?? "baseline";
    const c = str(r.candidateLabel) ?? "candidate";
    const queries = arr(r.queries).map(obj);
    const p95 = (side: "baseline" | "candidate") => Math.max(...queries.map((q) => num(obj(q?.[side])?.p95Ms) ?? 0));
    const rounds = arr(r.roundsDegradationPct).map((x) => `${(x as number) >= 0 ? "+" : ""}${pct(x as number, 1)}`);
    const facts = `p50 ${b} ${ms(num(r.baselineP50Ms))} vs ${c} ${ms(num(r.candidateP50Ms))}, degradation ${d >= 0 ? "+" : ""}${pct(d, 1)}${
      rounds.length > 1 ? ` (median of ${rounds.length} rounds: ${rounds.join(", ")})` : ""
    }, worst p95 ${b} ${ms(p95("baseline"))} vs ${c} ${ms(p95("candidate"))}, ${count(num(r.runs))} runs × ${queries.length} queries`;
    // Before the rollback the comparison is the trigger (AWS may well be slower); after it,
    // the live side must not be worse than the threshold.
    out.push(
      phase === "decision"
        ? { ok: true, info: true, evidence: `before rollback (${c} vs ${b}): ${facts}` }
        : { ok: d <= t.maxPerformanceDegradationPct, evidence: `after rollback (${c} vs ${b}): ${facts}; limit +${t.maxPerformanceDegradationPct} %` },
    );
  }
  // What users saw: the same requests on IDC before the cut-over and after the rollback. Two
  // windows minutes apart on a shared machine drift with its load, so this judges only when no
  // interleaved probe after the rollback does (a cut-over abandoned at its gate: AWS never served).
  const probedAfter = lastIn(entries, CHECK.perf, "verification") !== undefined;
  const clients = obj(lastEntry(entries, CHECK.clients)?.report);
  const before = obj(clients?.beforeCutover);
  const after = obj(clients?.afterRollback);
  const b = num(before?.p50Ms);
  const a = num(after?.p50Ms);
  if (b !== undefined && a !== undefined) {
    const d = degradationPct(b, a);
    out.push({
      ok: d <= t.maxPerformanceDegradationPct,
      info: probedAfter,
      evidence: `users' response time on IDC, before the cut-over vs after the rollback: p50 ${ms(b)} vs ${ms(a)} (${d >= 0 ? "+" : ""}${pct(d, 1)}), p95 ${ms(num(before?.p95Ms))} vs ${ms(num(after?.p95Ms))}, ${count(num(before?.requests))} and ${count(num(after?.requests))} requests; limit +${t.maxPerformanceDegradationPct} %`,
    });
  }
  return out;
}

/**
 * Users can reach it only on evidence that traffic goes where it should: the nginx switch's
 * probe through nginx (switch-upstream's `effect`), not its exit code; maintenance-off's report
 * that the flag is gone.
 */
function reachedThroughNginx(entries: readonly TimelineEntry[]): Result[] {
  const out: Result[] = [];
  const sw = lastEntry(entries, "nginx-upstream");
  if (sw?.status === "not-run") out.push({ ok: true, info: true, evidence: `step nginx-upstream: not run${sw.note ? ` — ${sw.note}` : ""}` });
  else if (sw) {
    const effect = obj(obj(sw.report)?.effect);
    const probe = obj(effect?.probe);
    const proven = sw.status === "ok" && bool(effect?.proven) === true;
    out.push({
      ok: proven,
      evidence: proven
        ? `nginx switch proven through nginx: ${str(probe?.expected) ?? "probe passed"} (${count(num(probe?.attempts))} attempt(s), last answer: ${str(probe?.lastAnswer) ?? "?"})`
        : `nginx switch ${sw.status} (exit ${sw.exitCode}): ${str(effect?.note) ?? "effect unproven: its report holds no probe result"}`,
    });
  }
  const off = lastEntry(entries, "maintenance-off");
  if (off?.status === "not-run") out.push({ ok: true, info: true, evidence: `step maintenance-off: not run${off.note ? ` — ${off.note}` : ""}` });
  else if (off) {
    const gone = off.status === "ok" && bool(obj(off.report)?.maintenance) === false;
    out.push({ ok: gone, evidence: `maintenance-off ${off.status} (exit ${off.exitCode}): ${gone ? "the flag is gone, nginx serves the app again" : "its report does not say maintenance is off"}` });
  }
  return out;
}

function checksOf(entries: readonly TimelineEntry[], kinds: readonly string[]): Result[] {
  return healthChecks(lastEntry(entries, "health")?.report)
    .filter((c) => kinds.includes(c.check))
    .map((c) => ({ ok: c.ok, evidence: describeCheck(c) }));
}

function clientsAfter(entries: readonly TimelineEntry[], t: Thresholds): Result[] {
  const r = obj(lastEntry(entries, CHECK.clients)?.report);
  const after = obj(r?.afterRollback);
  if (!after) return [];
  const requests = num(after.requests) ?? 0;
  const errors = num(after.errors) ?? 0;
  const rate = requests ? (errors * 100) / requests : 0;
  return [
    {
      ok: requests > 0 && rate <= t.maxErrorRatePct,
      evidence: `clients after maintenance-off: ${count(requests)} requests, ${count(errors)} errors (${pct(rate, 2)}; limit ${t.maxErrorRatePct} %)`,
    },
  ];
}

function backups(entries: readonly TimelineEntry[]): Result[] {
  const out: Result[] = [];
  const e = lastEntry(entries, "backup-check");
  const b = backupChoice(e?.report);
  if (e) {
    const rejected = b?.rejected.map((r) => `${r.path} rejected: ${r.reasons.join("; ")}`) ?? [];
    out.push({
      ok: e.status === "ok" && Boolean(b?.chosen),
      evidence: b ? [`backup-check chose ${b.chosen ?? "nothing"}${b.createdAt ? ` (created ${b.createdAt})` : ""}`, ...rejected].join("; ") : `backup-check: no report (exit ${e.exitCode})`,
    });
  }
  const after = obj(lastEntry(entries, CHECK.backupAfter)?.report);
  if (after) {
    out.push({ ok: bool(after.ok) === true, evidence: `fresh backup of IDC after the rollback: ${str(after.summary) ?? (after.ok ? "valid" : "FAILED")}` });
  }
  return out;
}

function logs(entries: readonly TimelineEntry[]): Result[] {
  const out: Result[] = [];
  const recorded = STEPS.filter((s) => lastEntry(entries, s.id));
  const failed = recorded.filter((s) => didNotFinish(lastEntry(entries, s.id))).map((s) => s.id);
  if (recorded.length) {
    out.push({
      ok: failed.length === 0,
      evidence: `timeline: ${recorded.length} runbook steps recorded${failed.length ? `, failed: ${failed.join(", ")}` : ", none failed"}`,
    });
  }
  const scan = obj(lastEntry(entries, CHECK.logs)?.report);
  for (const f of arr(scan?.files).map(obj)) {
    if (!f) continue;
    const errors = num(f.errors) ?? 0;
    const sample = arr(f.samples).map(String)[0];
    out.push({ ok: errors === 0, evidence: `${str(f.name) ?? "log"}: ${count(errors)} error lines during the rollback${sample ? ` (first: ${sample})` : ""}` });
  }
  return out;
}

function notifications(entries: readonly TimelineEntry[]): Result[] {
  const r = obj(lastEntry(entries, CHECK.notifications)?.report);
  if (!r) return [];
  const sent = num(r.sent) ?? 0;
  const failed = num(r.failed) ?? 0;
  return [{ ok: failed === 0, evidence: `notifications: ${count(sent)} delivered, ${count(failed)} failed${r.webhook === false ? " (no webhook configured: logged only)" : ""}` }];
}

export function checklist(entries: readonly TimelineEntry[], thresholds: Thresholds = DEFAULT_THRESHOLDS): ChecklistItem[] {
  return [
    item("data-completeness", "Data completeness", dataCompleteness(entries), "no verify step in the timeline"),
    item(
      "performance",
      "Performance compared",
      performance(entries, thresholds),
      "no comparison after the rollback (scripts/decide.ts --probe … --phase verification --timeline, after maintenance-off)",
    ),
    item("app-works", "Application works", [...checksOf(entries, ["http", "canary", "mysql"])], "no health step with HTTP, canary or MySQL checks"),
    item(
      "reachability",
      "Users can reach it",
      [...reachedThroughNginx(entries), ...clientsAfter(entries, thresholds)],
      "neither the nginx switch nor maintenance-off ran",
    ),
    item(
      "monitoring",
      "Monitoring normal",
      [...checksOf(entries, ["disk", "memory"]), ...notifications(entries)],
      "no disk/memory health checks and no notification record",
    ),
    item("backups", "Backups working", backups(entries), "no backup-check step in the timeline"),
    item("logs", "Logs normal", logs(entries), "empty timeline"),
  ];
}
