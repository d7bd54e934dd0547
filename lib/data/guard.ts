import { RollbackError } from "../errors";
import type { Side } from "./session";
import { count } from "./verify";

/**
 * The shrink guard: a sync makes the target equal to the source, so a source that lost rows
 * (a cut-over whose data load failed or stopped half-way) would delete the target's good rows.
 * Before anything is written, every table's row counts are compared, and a sync that would
 * remove more than `maxShrinkPct` % of a target table is refused unless the table is allowed.
 */

export const DEFAULT_MAX_SHRINK_PCT = 5;

export interface ShrinkSettings {
  /** Refuse when a target table would lose more than this percentage of its rows (default 5; 100 disables). */
  readonly maxShrinkPct?: number;
  /** Tables whose shrinking is intended (users really deleted those rows on the source). */
  readonly allowShrink?: readonly string[];
}

export interface ShrinkTableVerdict {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  /** (target rows − source rows) / target rows × 100 when the target has more rows, else 0. */
  readonly shrinkPct: number;
  readonly verdict: "ok" | "allowed" | "refused";
}

export interface ShrinkGuardReport {
  readonly maxShrinkPct: number;
  readonly allowShrink: readonly string[];
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
  const tables = counts.map((c): ShrinkTableVerdict => {
    const pct = shrinkPct(c.sourceRows, c.targetRows);
    const verdict = pct <= maxShrinkPct ? "ok" : allowed.has(c.table) ? "allowed" : "refused";
    return { ...c, shrinkPct: pct, verdict };
  });
  return { maxShrinkPct, allowShrink, refused: tables.some((t) => t.verdict === "refused"), tables };
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
    "was the cut-over's data load complete? If users really deleted these rows on the source, pass --allow-shrink <table> (or raise --max-shrink-pct)",
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
  const detail = shrinking.map((t) => `${t.table} ${t.targetRows} -> ${t.sourceRows} rows (-${t.shrinkPct}%, ${t.verdict})`).join(", ");
  const verdict = g.refused ? "REFUSED" : "passed";
  return `shrink guard (max ${g.maxShrinkPct}%): ${verdict}${detail ? `: ${detail}` : ", no table shrinks"}`;
}
