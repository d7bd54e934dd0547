import type { ColumnInfo, IndexInfo, KeyChoice, TablePlan, TableSchema } from "./types";
import { keyProblem } from "./values";

/**
 * Pure decisions about one table from its two schemas: which key chunks it, which columns
 * are compared and written, which column tells the last update.
 */

/**
 * The primary key, else the narrowest unique key whose columns are all NOT NULL (a NULL in a
 * unique key does not identify a row: several rows may hold it). Returns the reason when none fits.
 */
export function chooseKey(t: TableSchema): KeyChoice | { problem: string } {
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const candidates = [
    ...t.indexes.filter((i) => i.name === "PRIMARY"),
    ...t.indexes
      .filter((i) => i.unique && i.name !== "PRIMARY")
      .sort((a, b) => a.columns.length - b.columns.length || a.name.localeCompare(b.name)),
  ];
  const reasons: string[] = [];
  for (const idx of candidates) {
    if (idx.hidden) {
      reasons.push(`${idx.name} is INVISIBLE (the optimizer may not use it)`);
      continue;
    }
    if (idx.functional) {
      reasons.push(`${idx.name} is a functional index`);
      continue;
    }
    const cols = idx.columns.map((n) => byName.get(n));
    if (cols.some((c) => !c)) continue;
    const columns = cols as ColumnInfo[];
    if (idx.prefix) {
      reasons.push(`${idx.name} indexes a prefix`);
      continue;
    }
    if (columns.some((c) => c.nullable)) {
      reasons.push(`${idx.name} has nullable columns`);
      continue;
    }
    const bad = columns.map(keyProblem).find((p) => p !== null);
    if (bad) {
      reasons.push(`${idx.name} is a ${bad}`);
      continue;
    }
    return { index: idx.name, columns };
  }
  return {
    problem: candidates.length
      ? `no usable primary or unique key (${reasons.join("; ")})`
      : "has no primary key and no unique key on NOT NULL columns",
  };
}

export function isKeyChoice(k: KeyChoice | { problem: string }): k is KeyChoice {
  return "index" in k;
}

const UPDATE_NAME = /^(updated|modified|changed|last_?(updated?|modified|changed)|update|modify)(_?(at|on|time|date|ts|datetime|timestamp))?$/i;

/** The column that records a row's last update: ON UPDATE CURRENT_TIMESTAMP first, else by name. */
export function updateColumn(columns: readonly ColumnInfo[]): ColumnInfo | null {
  const temporal = columns.filter((c) => c.dataType === "datetime" || c.dataType === "timestamp");
  return temporal.find((c) => /on update/i.test(c.extra)) ?? temporal.find((c) => UPDATE_NAME.test(c.name)) ?? null;
}

/** Unique keys other than the chunking key: during a sync their values may collide (see applier.ts). */
function otherUniqueKeys(t: TableSchema, key: KeyChoice): IndexInfo[] {
  return t.indexes.filter((i) => i.unique && i.name !== key.index);
}

/**
 * The plan for a table present on both sides with the same key. Columns are the source's
 * non-generated columns that the target also has; text columns whose character set differs
 * are hashed after conversion so equal characters compare equal.
 */
export function planTable(source: TableSchema, target: TableSchema, key: KeyChoice): TablePlan {
  const targetCols = new Map(target.columns.map((c) => [c.name, c]));
  const columns = source.columns.filter((c) => !c.generated && targetCols.has(c.name) && !targetCols.get(c.name)!.generated);
  const convertColumns = new Set(
    columns.filter((c) => c.kind === "text" && c.charset !== targetCols.get(c.name)!.charset).map((c) => c.name),
  );
  return {
    table: source.name,
    key,
    columns,
    convertColumns,
    otherUniqueKeys: otherUniqueKeys(source, key),
    updateColumn: updateColumn(columns),
  };
}
