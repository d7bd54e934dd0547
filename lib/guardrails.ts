/**
 * Pre-switch guardrails: what must be true on the side being left (and of IDC's replication)
 * before the fence goes up. RDS Blue/Green switchover and Vitess SwitchTraffic refuse to switch
 * past the same things: a long transaction (its rollback, or its late commit after the proof),
 * DDL running or queued on a metadata lock (it blocks the fence's kill and the sync's reads),
 * writes by accounts the fence does not know (they keep writing after it), and a replica that
 * is behind. Pure: measurements in, a verdict per rule out, like lib/decision.ts; the
 * measuring is lib/guardrails-measure.ts.
 */

export type GuardrailId = "long-transaction" | "ddl" | "unlisted-writes" | "replica";

export interface TransactionSeen {
  readonly id: number;
  readonly account: string;
  readonly ageS: number;
}

export interface DdlSeen {
  readonly id: number;
  readonly account: string;
  /** "running" or the wait state, e.g. "Waiting for table metadata lock". */
  readonly state: string;
  readonly statement: string | null;
}

export interface ReplicaSeen {
  /** false: IDC is not a replica of anything (the usual case). */
  readonly configured: boolean;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /** Seconds_Behind_Source; null while a thread is stopped or unknown. */
  readonly secondsBehind: number | null;
}

/** What was measured; undefined: not measured (said so in the report, never passed silently). */
export interface GuardrailMeasurements {
  /** Every open transaction of an application account (system threads and our own excluded). */
  readonly transactions?: readonly TransactionSeen[];
  readonly ddl?: readonly DdlSeen[];
  /** Rows written per account not in the fence's list, over `windowS` (performance_schema counters). */
  readonly unlistedWrites?: { readonly windowS: number; readonly byAccount: readonly { readonly account: string; readonly rows: number }[] };
  /** Why unlisted writes could not be measured (e.g. performance_schema is off). */
  readonly unlistedWritesUnmeasured?: string;
  readonly replica?: ReplicaSeen;
  /** Why IDC's replication could not be read (e.g. IDC is down: idc-health, later, restarts it). */
  readonly replicaUnmeasured?: string;
}

export interface GuardrailThresholds {
  /** Refuse while a transaction is older than this (seconds). */
  readonly maxTransactionS: number;
  /** Refuse while the replica is more than this many seconds behind. */
  readonly maxReplicaLagS: number;
}

export const DEFAULT_GUARDRAILS: GuardrailThresholds = { maxTransactionS: 60, maxReplicaLagS: 0 };

export interface GuardrailResult {
  readonly id: GuardrailId;
  readonly verdict: "ok" | "refuse" | "not-measured";
  readonly value: number | string | null;
  readonly threshold: number | string;
  /** The value against the threshold, in one sentence. */
  readonly reason: string;
  /** What to do when refused. */
  readonly hint?: string;
}

export interface GuardrailReport {
  readonly ok: boolean;
  readonly results: readonly GuardrailResult[];
}

type Rule = (m: GuardrailMeasurements, t: GuardrailThresholds) => GuardrailResult;

const RULES: Readonly<Record<GuardrailId, Rule>> = {
  "long-transaction": (m, t) => {
    const base = { id: "long-transaction" as const, threshold: t.maxTransactionS };
    if (!m.transactions) return { ...base, verdict: "not-measured", value: null, reason: "open transactions: not measured" };
    const oldest = [...m.transactions].sort((a, b) => b.ageS - a.ageS)[0];
    if (!oldest || oldest.ageS <= t.maxTransactionS) {
      return { ...base, verdict: "ok", value: oldest?.ageS ?? 0, reason: `oldest open transaction ${oldest ? `${oldest.ageS} s` : "none"} <= ${t.maxTransactionS} s` };
    }
    return {
      ...base,
      verdict: "refuse",
      value: oldest.ageS,
      reason: `transaction of ${oldest.account} (session ${oldest.id}) open for ${oldest.ageS} s > ${t.maxTransactionS} s`,
      hint: `let it finish, or end it (KILL ${oldest.id}, CALL mysql.rds_kill(${oldest.id}) on RDS) and accept its rollback; a long rollback holds the window`,
    };
  },
  ddl: (m) => {
    const base = { id: "ddl" as const, threshold: 0 };
    if (!m.ddl) return { ...base, verdict: "not-measured", value: null, reason: "DDL: not measured" };
    if (m.ddl.length === 0) return { ...base, verdict: "ok", value: 0, reason: "no DDL running or waiting on a metadata lock" };
    const d = m.ddl[0];
    return {
      ...base,
      verdict: "refuse",
      value: m.ddl.length,
      reason: `${m.ddl.length} DDL statement(s) running or queued, e.g. session ${d.id} of ${d.account} (${d.state}): ${d.statement ?? "?"}`,
      hint: "wait for the schema change to finish (or cancel it) before the cut-off: a queued ALTER blocks every later query of its table",
    };
  },
  "unlisted-writes": (m) => {
    const base = { id: "unlisted-writes" as const, threshold: 0 };
    if (!m.unlistedWrites) {
      return { ...base, verdict: "not-measured", value: null, reason: `writes by unlisted accounts: not measured (${m.unlistedWritesUnmeasured ?? "no measurement"})` };
    }
    const writers = m.unlistedWrites.byAccount.filter((a) => a.rows > 0);
    if (writers.length === 0) return { ...base, verdict: "ok", value: 0, reason: `no account outside the fence wrote during ${m.unlistedWrites.windowS} s` };
    return {
      ...base,
      verdict: "refuse",
      value: writers.reduce((n, a) => n + a.rows, 0),
      reason: `accounts outside the fence wrote during ${m.unlistedWrites.windowS} s: ${writers.map((a) => `${a.account} ${a.rows} row(s)`).join(", ")}`,
      hint: "add those accounts to runbook.fence.users (or stop their jobs): the fence would not stop them, and their writes after the proof would be lost",
    };
  },
  replica: (m, t) => {
    const base = { id: "replica" as const, threshold: t.maxReplicaLagS };
    const r = m.replica;
    // An IDC that does not answer is idc-health's job (the next steps restart it); the fence
    // must not wait for it. A replica left running is still refused later: sync checks it.
    if (!r) return { ...base, verdict: "not-measured", value: null, reason: `IDC replication: not measured${m.replicaUnmeasured ? ` (${m.replicaUnmeasured}; sync refuses a running replica)` : ""}` };
    if (!r.configured) return { ...base, verdict: "ok", value: "not a replica", reason: "IDC is not a replica" };
    if (!r.ioRunning && !r.sqlRunning) return { ...base, verdict: "ok", value: "stopped", reason: "IDC's replication is stopped" };
    if (r.ioRunning && r.sqlRunning && r.secondsBehind !== null && r.secondsBehind <= t.maxReplicaLagS) {
      return { ...base, verdict: "ok", value: r.secondsBehind, reason: `IDC's replica is ${r.secondsBehind} s behind <= ${t.maxReplicaLagS} s` };
    }
    return {
      ...base,
      verdict: "refuse",
      value: r.secondsBehind ?? "a thread is stopped",
      reason: `IDC's replica is running but not caught up (IO ${r.ioRunning ? "on" : "off"}, SQL ${r.sqlRunning ? "on" : "off"}, ${r.secondsBehind ?? "?"} s behind > ${t.maxReplicaLagS} s)`,
      hint: "wait until it has caught up, or STOP REPLICA on IDC: the sync must not race a half-applied relay log",
    };
  },
};

export const GUARDRAIL_IDS = Object.keys(RULES) as GuardrailId[];

/** Every rule's verdict; ok when none refuses (not-measured is reported, not a refusal). */
export function judgeGuardrails(m: GuardrailMeasurements, t: GuardrailThresholds = DEFAULT_GUARDRAILS): GuardrailReport {
  const results = GUARDRAIL_IDS.map((id) => RULES[id](m, t));
  return { ok: results.every((r) => r.verdict !== "refuse"), results };
}

/** One line per rule, for people. */
export function guardrailLines(r: GuardrailReport): string[] {
  return r.results.map((x) => `guardrail ${x.id}: ${x.verdict.toUpperCase()}: ${x.reason}${x.hint && x.verdict === "refuse" ? ` (${x.hint})` : ""}`);
}
