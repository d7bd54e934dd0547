import { readFile } from "node:fs/promises";
import { RollbackError, messageOf } from "../errors";
import { formatPosition } from "../flavor";
import type { VerifyReport } from "./report";
import type { Side } from "./session";
import { count } from "./verify";

/**
 * The shrink guard: a sync makes the target equal to the source, so a source that lost rows
 * (a cut-over whose data load failed or stopped half-way) would delete the target's good rows.
 * Before anything is written, every table's row counts are compared, and a sync that would
 * remove more than `maxShrinkPct` % of a target table is refused unless a rule says the rows
 * really left: the table is allowed (`allowShrink`), it loses no more than `minShrinkRows`
 * rows (a 4-row lookup table losing 2 is 50 % and no sign of a failed load), or the forward
 * run's verify proved the cut-over load complete for it and the target still holds the rows
 * that proof counted — then AWS lost those rows after a proven cut-over, by users' deletes.
 * Each table's verdict names the rule that decided it.
 */

export const DEFAULT_MAX_SHRINK_PCT = 5;
/** A table that loses this many rows or fewer never trips the guard (without a proof too). */
export const DEFAULT_MIN_SHRINK_ROWS = 10;

/**
 * The forward run's proof, read from its verify report (SOURCE = IDC, TARGET = AWS, identical):
 * per table, the row count both sides had when the cut-over was proven.
 */
export interface CutoverProof {
  /** Where it was read from (a verify --json report, or the cut-over's timeline.jsonl). */
  readonly path: string;
  /** When the verify that proved it ran (the timeline entry's start), when known. */
  readonly provenAt: string | null;
  /** The source (IDC) commit position the verify proved identical at, `kind:value`, when known. */
  readonly sourcePosition: string | null;
  /** Where that position sits in the source's binary log, when the verify read it. */
  readonly sourceBinlog?: { readonly file: string; readonly pos: number } | null;
  /** Tables proven identical, with their row count then. */
  readonly tables: Readonly<Record<string, number>>;
}

export interface ShrinkSettings {
  /** Refuse when a target table would lose more than this percentage of its rows (default 5; 100 disables). */
  readonly maxShrinkPct?: number;
  /** A table losing this many rows or fewer passes (default 10; 0 turns the floor off). */
  readonly minShrinkRows?: number;
  /** Tables whose shrinking is intended (users really deleted those rows on the source). */
  readonly allowShrink?: readonly string[];
  /** The forward run's proof of a complete cut-over (loadCutoverProof). */
  readonly cutoverProof?: CutoverProof;
}

/**
 * Which rule decided: no-shrink (the target loses nothing), within-limit (≤ maxShrinkPct),
 * floor (≤ minShrinkRows rows), proof (the cut-over was proven and the target still holds what
 * it held then), allow-shrink (named by the operator), over-limit (refused).
 */
export type ShrinkRule = "no-shrink" | "within-limit" | "floor" | "proof" | "allow-shrink" | "over-limit";

export interface ShrinkTableVerdict {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  /** (target rows − source rows) / target rows × 100 when the target has more rows, else 0. */
  readonly shrinkPct: number;
  readonly verdict: "ok" | "allowed" | "refused";
  readonly rule: ShrinkRule;
  /** The proof's row count for this table at the cut-over; null when the proof does not cover it. */
  readonly provenRows: number | null;
}

export interface ShrinkGuardReport {
  readonly maxShrinkPct: number;
  readonly minShrinkRows: number;
  readonly allowShrink: readonly string[];
  /** The cut-over proof the guard used (its tables are not repeated here); null without one. */
  readonly cutoverProof: Omit<CutoverProof, "tables"> | null;
  /** True when at least one table is refused: a real sync writes nothing. */
  readonly refused: boolean;
  readonly tables: readonly ShrinkTableVerdict[];
}

export interface TableCounts {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
}

export function shrinkPct(sourceRows: number, targetRows: number): number {
  if (targetRows <= sourceRows) return 0;
  return Math.round(((targetRows - sourceRows) / targetRows) * 100 * 100) / 100;
}

/**
 * Pure verdict on counted tables. `allowShrink` must name tables of this sync: a misspelt name
 * would otherwise leave the guard on for the table the operator meant to exempt, or worse,
 * look like an exemption that was never applied.
 */
export function judgeShrink(counts: readonly TableCounts[], settings: ShrinkSettings): ShrinkGuardReport {
  const maxShrinkPct = settings.maxShrinkPct ?? DEFAULT_MAX_SHRINK_PCT;
  if (!Number.isFinite(maxShrinkPct) || maxShrinkPct < 0 || maxShrinkPct > 100) {
    throw new RollbackError("ARGS_INVALID", "--max-shrink-pct", `expected a percentage from 0 to 100, got ${maxShrinkPct}`);
  }
  const minShrinkRows = settings.minShrinkRows ?? DEFAULT_MIN_SHRINK_ROWS;
  if (!Number.isInteger(minShrinkRows) || minShrinkRows < 0) {
    throw new RollbackError("ARGS_INVALID", "--min-shrink-rows", `expected a whole number of rows >= 0, got ${minShrinkRows}`);
  }
  const allowShrink = [...(settings.allowShrink ?? [])];
  const known = new Set(counts.map((c) => c.table));
  const unknown = allowShrink.filter((t) => !known.has(t));
  if (unknown.length) {
    throw new RollbackError(
      "ARGS_INVALID",
      "--allow-shrink",
      `${unknown.join(", ")}: not among the tables this sync writes (${[...known].join(", ") || "none"})`,
      "name tables exactly as in the database; excluded tables need no exemption",
    );
  }
  const allowed = new Set(allowShrink);
  const proof = settings.cutoverProof;
  const tables = counts.map((c): ShrinkTableVerdict => {
    const pct = shrinkPct(c.sourceRows, c.targetRows);
    const provenRows = proof && Object.hasOwn(proof.tables, c.table) ? proof.tables[c.table] : null;
    const decide = (verdict: ShrinkTableVerdict["verdict"], rule: ShrinkRule) => ({ ...c, shrinkPct: pct, verdict, rule, provenRows });
    if (pct === 0) return decide("ok", "no-shrink");
    if (pct <= maxShrinkPct) return decide("ok", "within-limit");
    if (c.targetRows - c.sourceRows <= minShrinkRows) return decide("ok", "floor");
    // The target (IDC) still holds exactly what the proof counted: nothing landed there since the
    // proven cut-over, so the source's missing rows were deleted after it.
    if (provenRows !== null && provenRows === c.targetRows) return decide("ok", "proof");
    if (allowed.has(c.table)) return decide("allowed", "allow-shrink");
    return decide("refused", "over-limit");
  });
  const cutoverProof = proof ? { path: proof.path, provenAt: proof.provenAt, sourcePosition: proof.sourcePosition, sourceBinlog: proof.sourceBinlog } : null;
  return { maxShrinkPct, minShrinkRows, allowShrink, cutoverProof, refused: tables.some((t) => t.verdict === "refused"), tables };
}

/**
 * Reads the forward run's proof: a `scripts/verify.ts --json` report, or the cut-over's
 * timeline.jsonl (its last successful `verify` step's report). Only an identical report is a
 * proof, and only its tables that were identical with a proven (or assumed-quiet) stability.
 */
export async function loadCutoverProof(path: string): Promise<CutoverProof> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new RollbackError("FILE_UNREADABLE", path, messageOf(e), "pass the cut-over's timeline.jsonl or its verify --json report");
  }
  let verify: VerifyReport | undefined;
  let provenAt: string | null = null;
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  };
  const whole = parse(text) as Partial<VerifyReport> | undefined;
  if (whole && Array.isArray(whole.tables)) verify = whole as VerifyReport;
  else {
    for (const line of text.split("\n").filter((l) => l.trim())) {
      const e = parse(line) as { step?: string; status?: string; startedAt?: string; report?: VerifyReport } | undefined;
      if (e?.step === "verify" && e.status === "ok" && e.report && Array.isArray(e.report.tables)) {
        verify = e.report;
        provenAt = e.startedAt ?? null;
      }
    }
  }
  if (!verify) throw new RollbackError("FILE_UNPARSEABLE", path, "holds neither a verify --json report nor a timeline with a successful verify step");
  if (!verify.identical) {
    throw new RollbackError("STATE_INVALID", path, "its verify did not find the two sides identical: it proves no cut-over", "use the verify that passed before the cut-over moved traffic");
  }
  const tables: Record<string, number> = {};
  for (const t of verify.tables) if (t.identical && (t.stability === "proven" || t.stability === "assumed")) tables[t.table] = t.sourceRows;
  const pos = verify.sourcePosition;
  return { path, provenAt, sourcePosition: pos ? formatPosition(pos) : null, sourceBinlog: pos?.file && pos.pos !== null ? { file: pos.file, pos: pos.pos } : null, tables };
}

/** The error a refused guard throws: every refused table with both counts and the percentage. */
export function shrinkRefusal(guard: ShrinkGuardReport, source: string, target: string): RollbackError {
  const refused = guard.tables.filter((t) => t.verdict === "refused");
  // The subject names the tables; the problem repeats a name only to tell several apart.
  const what = refused
    .map((t) => `${refused.length > 1 ? `${t.table}: ` : ""}the target has ${t.targetRows} rows, the source ${t.sourceRows}; syncing would delete ${t.targetRows - t.sourceRows} (${t.shrinkPct}%)`)
    .join("; ");
  return new RollbackError(
    "SHRINK_REFUSED",
    refused.map((t) => t.table).join(", "),
    `${what} — more than --max-shrink-pct ${guard.maxShrinkPct} of ${target} would be removed to match ${source}; nothing was written`,
    "was the cut-over's data load complete? If users really deleted these rows on the source, pass --allow-shrink <table> (or raise --max-shrink-pct), or give the cut-over's proof with --cutover-proof",
  );
}

/** One side's COUNT(*) of each table, one after the other on the side's reader. */
async function countSide(side: Side, tables: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const table of tables) {
    out.push(await count(side, table));
  }
  return out;
}

/** Counts every table on both servers at once (each server counts its tables in sequence). */
export async function countTables(source: Side, target: Side, tables: readonly string[]): Promise<TableCounts[]> {
  const [s, t] = await Promise.all([countSide(source, tables), countSide(target, tables)]);
  return tables.map((table, i) => ({ table, sourceRows: s[i], targetRows: t[i] }));
}

/** One line for people: the verdict and the tables that shrink. */
export function guardLine(g: ShrinkGuardReport): string {
  const shrinking = g.tables.filter((t) => t.shrinkPct > 0);
  const detail = shrinking.map((t) => `${t.table} ${t.targetRows} -> ${t.sourceRows} rows (-${t.shrinkPct}%, ${t.verdict} by ${t.rule})`).join(", ");
  const verdict = g.refused ? "REFUSED" : "passed";
  return `shrink guard (max ${g.maxShrinkPct}%): ${verdict}${detail ? `: ${detail}` : ", no table shrinks"}`;
}
