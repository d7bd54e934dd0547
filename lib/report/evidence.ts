/**
 * Reading the steps' --json reports without trusting their shape: each script owns its report
 * (lib/data, lib/backup, lib/traffic), the report only reads the few fields the contracts name
 * (../briefs/contracts.md) and says "not reported" when one is absent.
 */
export type Json = Record<string, unknown>;

export function obj(v: unknown): Json | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export function bool(v: unknown): boolean | undefined {
  return typeof v === "boolean" ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Thousands separators for counts in prose. */
export function count(n: number | undefined): string {
  return n === undefined ? "?" : n.toLocaleString("en-US");
}

export function pct(n: number | undefined, digits = 2): string {
  return n === undefined ? "?" : `${Number(n.toFixed(digits))} %`;
}

export function ms(n: number | undefined): string {
  if (n === undefined) return "?";
  return n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n)} ms`;
}

/** The data engine's verify report (contract: identical, mismatchPct, rowsCompared, tables[]). */
export interface VerifySummary {
  readonly identical: boolean;
  readonly mismatchPct?: number;
  readonly rowsCompared?: number;
  readonly tables: { table: string; identical: boolean; missing?: number; extra?: number; changed?: number }[];
}

export function verifySummary(report: unknown): VerifySummary | undefined {
  const r = obj(report);
  const identical = bool(r?.identical);
  if (!r || identical === undefined) return undefined;
  return {
    identical,
    mismatchPct: num(r.mismatchPct),
    rowsCompared: num(r.rowsCompared),
    tables: arr(r.tables)
      .map(obj)
      .filter((t): t is Json => t !== undefined)
      .map((t) => ({ table: str(t.table) ?? "?", identical: bool(t.identical) ?? false, missing: num(t.missing), extra: num(t.extra), changed: num(t.changed) })),
  };
}

export function describeVerify(v: VerifySummary): string {
  const differing = v.tables.filter((t) => !t.identical);
  const head = `${v.identical ? "identical" : "DIFFERENT"}: ${count(v.rowsCompared)} rows compared in ${v.tables.length} tables, mismatch ${pct(v.mismatchPct, 4)}`;
  if (!differing.length) return head;
  const tail = differing
    .slice(0, 5)
    .map((t) => `${t.table} (missing ${count(t.missing)}, extra ${count(t.extra)}, changed ${count(t.changed)})`)
    .join(", ");
  return `${head}; differing: ${tail}`;
}

/** The data engine's sync report (contract: identical, inserted, updated, deleted). */
export function syncCounts(report: unknown): { inserted: number; updated: number; deleted: number; identical?: boolean } | undefined {
  const r = obj(report);
  const inserted = num(r?.inserted);
  const updated = num(r?.updated);
  const deleted = num(r?.deleted);
  if (inserted === undefined || updated === undefined || deleted === undefined) return undefined;
  return { inserted, updated, deleted, identical: bool(r?.identical) };
}

/** The backups' verify report (contract: ok, chosen, candidates[{path, valid, reasons, createdAt}]). */
export function backupChoice(report: unknown):
  | { ok: boolean; chosen: string | null; createdAt?: string; rejected: { path: string; reasons: string[] }[] }
  | undefined {
  const r = obj(report);
  const ok = bool(r?.ok);
  if (!r || ok === undefined) return undefined;
  const candidates = arr(r.candidates).map(obj).filter((c): c is Json => c !== undefined);
  const chosen = str(r.chosen) ?? null;
  return {
    ok,
    chosen,
    createdAt: str(candidates.find((c) => c.path === chosen)?.createdAt),
    rejected: candidates
      .filter((c) => c.valid === false)
      .map((c) => ({ path: str(c.path) ?? "?", reasons: arr(c.reasons).map((x) => String(x)) })),
  };
}

/** A health check (lib/traffic/health: check, target, ok, problem, evidence). */
export interface HealthCheck {
  readonly check: string;
  readonly target: string;
  readonly ok: boolean;
  readonly problem: string | null;
  readonly evidence: Json;
}

export function healthChecks(report: unknown): HealthCheck[] {
  return arr(obj(report)?.checks)
    .map(obj)
    .filter((c): c is Json => c !== undefined && typeof c.check === "string")
    .map((c) => ({
      check: String(c.check),
      target: str(c.target) ?? "",
      ok: c.ok === true,
      problem: str(c.problem) ?? null,
      evidence: obj(c.evidence) ?? {},
    }));
}

export function describeCheck(c: HealthCheck): string {
  const facts = Object.entries(c.evidence)
    .filter(([, v]) => v === null || ["string", "number", "boolean"].includes(typeof v))
    .slice(0, 4)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  return `${c.check} ${c.target}: ${c.ok ? "ok" : `FAILED (${c.problem ?? "no detail"})`}${facts ? ` [${facts}]` : ""}`;
}

/**
 * scripts/fence.ts's report (the fence, unfence and settle steps) in one line: what it did or
 * found, the sessions it killed, the commit position; undefined for any other report.
 */
export function describeFence(report: unknown): string | undefined {
  const r = obj(report);
  if (!r || typeof r.method !== "string" || !["on", "off", "status", "check"].includes(String(r.action))) return undefined;
  const pos = str(obj(r.position)?.text) ?? "none (binary log off)";
  const guard = arr(obj(r.guardrails)?.results).map(obj).filter((g) => g?.verdict === "refuse");
  if (r.action === "on" && guard.length) return `refused by the guardrails, nothing changed: ${guard.map((g) => str(g?.reason)).join("; ")}`;
  if (r.action === "on") {
    const killed = arr(r.killed).map(obj).filter((k) => k?.killed === true);
    const inTrx = killed.filter((k) => k?.inTransaction === true).length;
    return `${r.ok ? "fence holds" : "fence does NOT hold"}: ${arr(r.accounts).length} account(s) (${r.method}); killed ${killed.length} session(s)${inTrx ? ` (${inTrx} mid-transaction, rolled back: never acknowledged)` : ""}; position ${pos}`;
  }
  if (r.action === "off") return `lifted ${arr(r.lifted).join(", ") || "nothing (no fence recorded)"}${arr(r.kept).length ? `; kept ${arr(r.kept).join(", ")}` : ""}`;
  if (r.action === "check") return r.ok ? `fence holds, no session open, position ${pos} unchanged since the proof` : `MOVED: ${arr(r.moved).join("; ")}`;
  return `fence ${r.fenced ? "on" : "off"}; ${arr(r.sessions).length} session(s) of the fenced accounts open`;
}

/** A one-line summary of any step's report, for tables and notifications. */
export function summarizeReport(report: unknown): string {
  const fence = describeFence(report);
  if (fence) return fence;
  const v = verifySummary(report);
  const s = syncCounts(report);
  if (s) return `inserted ${count(s.inserted)}, updated ${count(s.updated)}, deleted ${count(s.deleted)}${s.identical === false ? " (NOT identical after sync)" : ""}`;
  if (v) return describeVerify(v);
  const b = backupChoice(report);
  if (b && "candidates" in (obj(report) ?? {})) {
    return b.chosen ? `chose ${b.chosen}${b.rejected.length ? `; rejected ${b.rejected.length}` : ""}` : "no valid backup";
  }
  const checks = healthChecks(report);
  if (checks.length) return `${checks.filter((c) => c.ok).length}/${checks.length} checks passed`;
  const r = obj(report);
  const d = num(r?.degradationPct);
  if (r && d !== undefined) {
    return `p50 ${str(r.candidateLabel)} ${ms(num(r.candidateP50Ms))} vs ${str(r.baselineLabel)} ${ms(num(r.baselineP50Ms))} (${d >= 0 ? "+" : ""}${pct(d, 1)})`;
  }
  if (r && Array.isArray(r.criteria) && typeof r.rollback === "boolean") {
    return r.rollback ? `roll back: ${arr(r.reasons).join("; ")}` : "stay: no criterion exceeded";
  }
  if (r && typeof r.maintenance503 === "number") {
    return `${count(num(r.requests))} requests, ${count(num(r.errors))} errors, ${count(num(r.maintenance503))} maintenance 503s, ${Math.round((num(r.downtimeMs) ?? 0) / 1000)} s without service`;
  }
  if (r && typeof r.lost === "number") return `${count(num(r.checked))} acknowledged writes checked on IDC, ${count(num(r.lost))} lost, ${count(num(r.resurrected))} deletes undone`;
  if (r && Array.isArray(r.files)) {
    const logs = arr(r.files).map(obj);
    return `${count(logs.reduce((n, f) => n + (num(f?.errors) ?? 0), 0))} error lines in ${logs.length} logs`;
  }
  if (r && typeof r.sent === "number") return `${count(num(r.sent))} delivered, ${count(num(r.failed))} failed`;
  // scripts/idc-mysql.ts: the container's state and what was done; switch-upstream.ts: the outcome.
  if (r && typeof r.verb === "string" && obj(r.before)) {
    const before = obj(r.before)!;
    return `${str(r.container)} was ${str(before.status)}; action: ${str(r.action) ?? "none"}${obj(r.mysql)?.answered ? "; MySQL answers" : ""}`;
  }
  if (r && typeof r.outcome === "string" && typeof r.servers === "string") return `${r.outcome}: ${str(r.name)} -> ${r.servers}`;
  const summary = str(r?.summary) ?? str(r?.problem) ?? str(r?.message) ?? str(obj(r?.error)?.problem);
  if (summary) return summary;
  if (r && typeof r.ok === "boolean") return r.ok ? "ok" : "not ok";
  return "";
}
