import { ErrorCode, RollbackError } from "../errors";
import { chooseKey, isKeyChoice, planTable } from "./plan";
import { SchemaDiff, diffSchemas } from "./schema-diff";
import type { TablePlan, TableSchema } from "./types";

/**
 * Everything decided before the first row is read, as a pure function of both schemas and
 * the options: which tables, how each is compared, and what is refused. A refusal stops the
 * whole run before any write, with one message naming every offending table and what to do
 * (pt-table-sync and VDiff refuse the same cases up front).
 */

export interface PreflightOptions {
  readonly mode: "verify" | "sync";
  readonly tables?: readonly string[];
  readonly exclude?: readonly string[];
  /**
   * Refuse a sync into tables with triggers on the target (TARGET_TRIGGERS) instead of dropping
   * them for the sync and recreating them after (triggers.ts, the default).
   */
  readonly refuseTriggers?: boolean;
}

export interface TableCheck {
  readonly table: string;
  readonly source?: TableSchema;
  readonly target?: TableSchema;
  readonly schemaDiffs: readonly SchemaDiff[];
  /** Present when the rows can be compared: same key on both sides. */
  readonly plan?: TablePlan;
  /** Why the rows cannot be compared, when there is no plan (verify reports the table as not comparable). */
  readonly reason?: string;
}

/** The tables to work on: --tables (or all on either side) minus --exclude; unknown names are errors. */
export function selectTables(all: readonly string[], tables?: readonly string[], exclude?: readonly string[]): string[] {
  const known = new Set(all);
  for (const [flag, list] of [["--tables", tables], ["--exclude", exclude]] as const) {
    const unknown = (list ?? []).filter((t) => !known.has(t));
    if (unknown.length) {
      throw new RollbackError("TABLE_UNKNOWN", unknown.join(", "), `${flag} names tables that exist on neither server`, "check the spelling (names are case-sensitive)");
    }
  }
  const skip = new Set(exclude ?? []);
  return (tables ?? [...all].sort()).filter((t) => !skip.has(t));
}

interface Problem {
  code: ErrorCode;
  table: string;
  problem: string;
  hint: string;
}

function refuse(problems: Problem[]): RollbackError {
  const codes = [...new Set(problems.map((p) => p.code))];
  return new RollbackError(
    codes.length === 1 ? codes[0] : "REFUSED",
    [...new Set(problems.map((p) => p.table))].join(", "),
    problems.map((p) => `${p.table}: ${p.problem}`).join("; "),
    [...new Set(problems.map((p) => p.hint))].join("; "),
  );
}

function describeDiff(d: SchemaDiff): string {
  return `${d.kind} ${d.subject} (source ${d.source ?? "absent"}, target ${d.target ?? "absent"})`;
}

export function preflight(
  source: ReadonlyMap<string, TableSchema>,
  target: ReadonlyMap<string, TableSchema>,
  opts: PreflightOptions,
): TableCheck[] {
  const names = selectTables([...new Set([...source.keys(), ...target.keys()])], opts.tables, opts.exclude);
  const problems: Problem[] = [];
  const checks: TableCheck[] = [];
  for (const table of names) {
    const s = source.get(table);
    const t = target.get(table);
    const schemaDiffs = diffSchemas(table, s, t);
    const unsupported = [...(s?.columns ?? []), ...(t?.columns ?? [])].filter((c) => c.kind === "unsupported");
    if (unsupported.length) {
      problems.push({
        code: "COLUMN_UNSUPPORTED",
        table,
        problem: `unsupported column types ${unsupported.map((c) => `${c.name} ${c.dataType}`).join(", ")}`,
        hint: "exclude such tables with --exclude and copy them another way",
      });
      continue;
    }
    if (!s || !t) {
      if (opts.mode === "sync") {
        problems.push({
          code: "TABLE_MISSING",
          table,
          problem: `exists only on the ${s ? "source" : "target"}`,
          hint: "align the schema first (restore or run the DDL on the target), or --exclude the table",
        });
      }
      checks.push({ table, source: s, target: t, schemaDiffs, reason: `exists only on the ${s ? "source" : "target"}` });
      continue;
    }
    const key = chooseKey(s);
    if (!isKeyChoice(key) && opts.mode === "verify") {
      // A read-only verify still reports every other table; only this one cannot be compared.
      checks.push({ table, source: s, target: t, schemaDiffs, reason: `${key.problem}: rows cannot be identified, so they are counted, not compared` });
      continue;
    }
    if (!isKeyChoice(key)) {
      problems.push({
        code: "TABLE_NO_KEY",
        table,
        problem: key.problem,
        hint: "add a primary key (or a unique key on NOT NULL columns) on both servers, or --exclude the table and copy it with mariadb-dump",
      });
      continue;
    }
    const targetKey = chooseKey(t);
    const sameKey =
      isKeyChoice(targetKey) &&
      targetKey.index === key.index &&
      !schemaDiffs.some((d) => d.unsafe && (d.kind === "key" ? d.subject === key.index : key.columns.some((c) => c.name === d.subject)));
    if (opts.mode === "sync") {
      const unsafe = schemaDiffs.filter((d) => d.unsafe);
      if (unsafe.length) {
        problems.push({
          code: "SCHEMA_UNSAFE",
          table,
          problem: `schemas differ: ${unsafe.map(describeDiff).join(", ")}`,
          hint: "align the target's schema with the source's before syncing (verify lists every difference)",
        });
        continue;
      }
      if (t.triggers.length && opts.refuseTriggers) {
        problems.push({
          code: "TARGET_TRIGGERS",
          table,
          problem: `the target has triggers (${t.triggers.join(", ")}) that would fire on every synced row`,
          hint: "drop them yourself, or sync without --refuse-triggers: it saves, drops and recreates them",
        });
        continue;
      }
    }
    checks.push(
      sameKey
        ? { table, source: s, target: t, schemaDiffs, plan: planTable(s, t, key) }
        : { table, source: s, target: t, schemaDiffs, reason: "the two sides identify rows by different keys (see the key differences)" },
    );
  }
  if (problems.length) throw refuse(problems);
  return checks;
}
