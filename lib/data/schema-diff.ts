import type { ColumnInfo, IndexInfo, TableSchema } from "./types";

/**
 * One difference between the source's and the target's definition of a table. `unsafe`
 * differences change how a value is stored, compared or identified: a sync refuses them
 * (the schema must be aligned first); the rest (plain indexes, engine) are only reported.
 */
export interface SchemaDiff {
  readonly kind: "table" | "column" | "type" | "nullable" | "charset" | "collation" | "generated" | "key" | "index" | "engine";
  /** The column or index concerned (the table for kind "table"/"engine"). */
  readonly subject: string;
  readonly source: string | null;
  readonly target: string | null;
  readonly unsafe: boolean;
}

function columnDiffs(s: ColumnInfo, t: ColumnInfo): SchemaDiff[] {
  const out: SchemaDiff[] = [];
  const add = (kind: SchemaDiff["kind"], a: string | null, b: string | null) => {
    if (a !== b) out.push({ kind, subject: s.name, source: a, target: b, unsafe: true });
  };
  add("type", s.columnType, t.columnType);
  add("nullable", s.nullable ? "NULL" : "NOT NULL", t.nullable ? "NULL" : "NOT NULL");
  add("charset", s.charset, t.charset);
  add("collation", s.collation, t.collation);
  add("generated", s.generated ? (s.generationExpression ?? "generated") : null, t.generated ? (t.generationExpression ?? "generated") : null);
  return out;
}

function describeIndex(i: IndexInfo): string {
  return `${i.unique ? "UNIQUE " : ""}(${i.columns.join(", ")})${i.prefix ? " prefix" : ""}`;
}

function indexDiffs(source: readonly IndexInfo[], target: readonly IndexInfo[]): SchemaDiff[] {
  const out: SchemaDiff[] = [];
  const t = new Map(target.map((i) => [i.name, i]));
  const s = new Map(source.map((i) => [i.name, i]));
  for (const name of new Set([...s.keys(), ...t.keys()])) {
    const a = s.get(name);
    const b = t.get(name);
    const da = a ? describeIndex(a) : null;
    const db = b ? describeIndex(b) : null;
    if (da === db) continue;
    // Primary and unique keys decide row identity; plain indexes only speed queries up.
    const unsafe = Boolean(a?.unique || b?.unique);
    out.push({ kind: unsafe ? "key" : "index", subject: name, source: da, target: db, unsafe });
  }
  return out;
}

/** Differences between the two definitions of a table (either may be missing). */
export function diffSchemas(table: string, source: TableSchema | undefined, target: TableSchema | undefined): SchemaDiff[] {
  if (!source || !target) {
    return [{ kind: "table", subject: table, source: source ? "present" : null, target: target ? "present" : null, unsafe: true }];
  }
  const out: SchemaDiff[] = [];
  const tcols = new Map(target.columns.map((c) => [c.name, c]));
  const scols = new Map(source.columns.map((c) => [c.name, c]));
  for (const c of source.columns) {
    const other = tcols.get(c.name);
    if (!other) out.push({ kind: "column", subject: c.name, source: c.columnType, target: null, unsafe: true });
    else out.push(...columnDiffs(c, other));
  }
  for (const c of target.columns) {
    if (!scols.has(c.name)) out.push({ kind: "column", subject: c.name, source: null, target: c.columnType, unsafe: true });
  }
  out.push(...indexDiffs(source.indexes, target.indexes));
  if ((source.engine ?? "").toLowerCase() !== (target.engine ?? "").toLowerCase()) {
    out.push({ kind: "engine", subject: table, source: source.engine, target: target.engine, unsafe: false });
  }
  return out;
}
