import type { Dsn } from "../dsn";
import { describeTls, ident } from "../mysql";
import { ChunkSizer } from "./chunker";
import { ChunkComparison, TableComparer, chunkMismatches } from "./compare";
import { compareObjects, objectScope } from "./objects";
import { TableCheck, preflight } from "./preflight";
import { ReplicaReport, checkReplica } from "./replica";
import { SkippedTable, VerifyReport, VerifyTableReport, completeVerify, mismatchPct, summarizeVerify } from "./report";
import { SampleCollector } from "./samples";
import { readSchema } from "./schema";
import { Side, openSide, rows } from "./session";
import { VIEWS_SQL } from "./sql";
import { provenPosition, recordProof, requireProofs, scopeOf } from "./stability";

export interface ChunkEvent {
  readonly table: string;
  /** "compare" during verify and a sync's diff; "apply" after a chunk was written. */
  readonly phase: "compare" | "apply";
  readonly rowsDone: number;
  readonly estimatedRows: number;
  readonly chunk: ChunkComparison;
  /** Which table of the run this is ("table 3 of 12"), when the caller counts them. */
  readonly position?: { readonly index: number; readonly of: number };
}

export interface CompareSettings {
  /** Rows per chunk (default 10,000), or the start size when chunkTimeMs is set. */
  readonly chunkSize?: number;
  /** Adapt the chunk size so one chunk takes about this long. */
  readonly chunkTimeMs?: number;
  /** Sample keys per kind and table (default 10). */
  readonly sampleLimit?: number;
  /** Called after every chunk (progress); awaited. */
  readonly onChunk?: (e: ChunkEvent) => void | Promise<void>;
}

export interface VerifySettings extends CompareSettings {
  /** Comparisons of a table that saw commits are repeated up to this many times (default 3). */
  readonly rounds?: number;
  /** Trust that writes are stopped instead of proving it with commit markers. */
  readonly assumeQuiet?: boolean;
  /** Called when a table's comparison is final. */
  readonly onTable?: (t: VerifyTableReport) => void;
}

export interface VerifyOptions extends VerifySettings {
  readonly source: Dsn;
  readonly target: Dsn;
  readonly tables?: readonly string[];
  readonly exclude?: readonly string[];
  /** Reverse replication mode: first check that the target replica applied everything. */
  readonly replica?: boolean;
  /** How long to wait for the replica to catch up (default 0: check now). */
  readonly replicaWaitSeconds?: number;
  /** Compare the DEFINER of triggers, views, routines and events too (default: ignored, see objects.ts). */
  readonly compareDefiners?: boolean;
  /** Leave triggers, views, routines and events out of the comparison (the report says so: no `objects`). */
  readonly skipSchemaObjects?: boolean;
}

export interface Sides {
  readonly source: Side;
  readonly target: Side;
}

export const DEFAULT_CHUNK = 10_000;

export async function openSides(source: Dsn, target: Dsn): Promise<Sides> {
  const s = await openSide("source", source);
  try {
    return { source: s, target: await openSide("target", target) };
  } catch (e) {
    await s.close();
    throw e;
  }
}

async function viewNames(side: Side): Promise<string[]> {
  return (await rows<{ name: string }>(side.reader, VIEWS_SQL, [side.dsn.database])).map((r) => String(r.name));
}

/**
 * Introspects both databases and runs the preflight checks. A view named in --tables is
 * skipped with its reason (it holds no rows of its own; its definition is compared with the
 * schema objects), not called a table that exists nowhere.
 */
export async function prepare(sides: Sides, opts: Parameters<typeof preflight>[2]): Promise<{ checks: TableCheck[]; skipped: SkippedTable[] }> {
  const [s, t, sv, tv] = await Promise.all([
    readSchema(sides.source.reader, sides.source.dsn.database),
    readSchema(sides.target.reader, sides.target.dsn.database),
    viewNames(sides.source),
    viewNames(sides.target),
  ]);
  const views = new Set([...sv, ...tv].filter((v) => !s.has(v) && !t.has(v)));
  const skipped = (opts.tables ?? []).filter((n) => views.has(n)).map((table) => ({ table, reason: "a view: it holds no rows of its own; its definition is compared with the schema objects" }));
  const tables = opts.tables?.filter((n) => !views.has(n));
  return { checks: preflight(s, t, { ...opts, tables }), skipped };
}

export async function count(side: Side, table: string): Promise<number> {
  const [r] = await rows<{ n: string }>(side.reader, `SELECT COUNT(*) AS n FROM ${ident(table)}`);
  return Number(r.n);
}

export async function lastUpdate(sides: Sides, check: TableCheck): Promise<VerifyTableReport["lastUpdate"]> {
  const col = check.plan?.updateColumn;
  if (!col) return null;
  const sql = `SELECT CAST(MAX(${ident(col.name)}) AS CHAR) AS m FROM ${ident(check.table)}`;
  const [[s], [t]] = await Promise.all([rows<{ m: string | null }>(sides.source.reader, sql), rows<{ m: string | null }>(sides.target.reader, sql)]);
  return { column: col.name, source: s.m, target: t.m };
}

type Comparison = Omit<VerifyTableReport, "stability" | "checked" | "rounds">;

/** One comparison of one table, without the stability bracket. */
async function compareOnce(sides: Sides, check: TableCheck, settings: CompareSettings): Promise<Comparison> {
  const started = Date.now();
  const { source, target } = sides;
  const unsafe = check.schemaDiffs.some((d) => d.unsafe);
  if (!check.plan) {
    const [sourceRows, targetRows] = await Promise.all([
      check.source ? count(source, check.table) : 0,
      check.target ? count(target, check.table) : 0,
    ]);
    const missing = check.target ? 0 : sourceRows;
    const extra = check.source ? 0 : targetRows;
    return {
      table: check.table,
      identical: false,
      comparable: false,
      ...(check.reason ? { notComparable: check.reason } : {}),
      sourceRows,
      targetRows,
      missing,
      extra,
      changed: 0,
      mismatchPct: mismatchPct(missing, extra, 0, sourceRows),
      sampleKeys: [],
      schemaDiffs: check.schemaDiffs,
      lastUpdate: null,
      chunks: 0,
      chunksDiffering: 0,
      durationMs: Date.now() - started,
    };
  }
  const plan = check.plan;
  const comparer = new TableComparer(source, target, plan, new ChunkSizer(settings.chunkSize ?? DEFAULT_CHUNK, settings.chunkTimeMs));
  const samples = new SampleCollector(plan, settings.sampleLimit ?? 10);
  const estimatedRows = check.source?.estimatedRows ?? 0;
  let sourceRows = 0;
  let targetRows = 0;
  let missing = 0;
  let extra = 0;
  let changed = 0;
  let chunks = 0;
  let chunksDiffering = 0;
  for await (const chunk of comparer.chunks()) {
    chunks++;
    sourceRows += chunk.sourceRows;
    targetRows += chunk.targetRows;
    if (!chunk.identical) {
      chunksDiffering++;
      const m = chunkMismatches(chunk);
      missing += m.missing;
      extra += m.extra;
      changed += m.changed;
      await samples.add(chunk, source, target);
    }
    await settings.onChunk?.({ table: check.table, phase: "compare", rowsDone: sourceRows, estimatedRows, chunk });
  }
  return {
    table: check.table,
    identical: missing + extra + changed === 0 && !unsafe,
    comparable: true,
    key: plan.key.index,
    sourceRows,
    targetRows,
    missing,
    extra,
    changed,
    mismatchPct: mismatchPct(missing, extra, changed, sourceRows),
    sampleKeys: samples.samples,
    schemaDiffs: check.schemaDiffs,
    lastUpdate: await lastUpdate(sides, check),
    chunks,
    chunksDiffering,
    durationMs: Date.now() - started,
  };
}

/**
 * Compares a table inside a stability bracket (stability.ts). Chunks are compared at
 * different moments, so a write behind an already-compared chunk would go unseen; a
 * comparison is therefore accepted as "identical" only if nothing that can change this table
 * committed on either server while it ran (scoped to the table where the binary log allows).
 * Otherwise it is repeated, and after `rounds` attempts reported as changing (not identical).
 * A comparison that already found differences is reported as it is; a table whose writes no
 * proof can see is compared once and reported unproven.
 */
export async function verifyTable(sides: Sides, check: TableCheck, settings: VerifySettings): Promise<VerifyTableReport> {
  const maxRounds = Math.max(1, settings.rounds ?? 3);
  if (settings.assumeQuiet) return { ...(await compareOnce(sides, check, settings)), stability: "assumed", checked: "both", rounds: 1 };
  const [ss, ts] = await requireProofs(sides);
  const scopes = [scopeOf(check, sides.source), scopeOf(check, sides.target)] as const;
  if (!ss.covers(scopes[0]) || !ts.covers(scopes[1])) {
    return { ...(await compareOnce(sides, check, settings)), identical: false, stability: "unproven", checked: "both", rounds: 1 };
  }
  for (let round = 1; ; round++) {
    const before = await Promise.all([ss.point(), ts.point()]);
    const r = await compareOnce(sides, check, settings);
    const after = await Promise.all([ss.point(), ts.point()]);
    if ((await ss.quiet(before[0], after[0], scopes[0])) && (await ts.quiet(before[1], after[1], scopes[1]))) {
      return recordProof({ ...r, stability: "proven", checked: "both", rounds: round }, after[0]);
    }
    if (!r.identical || round >= maxRounds) return { ...r, identical: false, stability: "changing", checked: "both", rounds: round };
  }
}

/**
 * Verifies the given tables on open connections (verify's and sync's final check).
 * `shortcut` may answer for a table first (sync's target-only re-check); null falls back.
 */
export async function verifyChecks(
  sides: Sides,
  checks: readonly TableCheck[],
  settings: VerifySettings,
  replica?: ReplicaReport,
  shortcut?: (check: TableCheck) => Promise<VerifyTableReport | null>,
): Promise<VerifyReport> {
  const started = Date.now();
  const proofs = settings.assumeQuiet ? null : await requireProofs(sides);
  const tables: VerifyTableReport[] = [];
  for (const [i, check] of checks.entries()) {
    const position = { index: i + 1, of: checks.length };
    const onChunk = settings.onChunk && ((e: ChunkEvent) => settings.onChunk!({ ...e, position }));
    const t = (await shortcut?.(check)) ?? (await verifyTable(sides, check, { ...settings, onChunk }));
    settings.onTable?.(t);
    tables.push(t);
  }
  const summary = summarizeVerify(tables);
  const identical = summary.identical && (replica ? replica.caughtUp : true);
  return {
    ...summary,
    identical,
    source: sides.source.label,
    target: sides.target.label,
    tls: { source: describeTls(sides.source.tls), target: describeTls(sides.target.tls) },
    tables,
    ...(replica ? { replica } : {}),
    proof: proofs ? { source: proofs[0].info, target: proofs[1].info } : null,
    sourcePosition: identical ? await provenPosition(sides.source, checks, tables) : null,
    durationMs: Date.now() - started,
  };
}

/** verify: per table counts, schema differences, exact row diff with samples; see docs/data-engine.md. */
export async function verifyDatabases(opts: VerifyOptions): Promise<VerifyReport> {
  const sides = await openSides(opts.source, opts.target);
  try {
    const { checks, skipped } = await prepare(sides, { mode: "verify", tables: opts.tables, exclude: opts.exclude });
    const replica = opts.replica ? await checkReplica(sides.source, sides.target, opts.replicaWaitSeconds ?? 0) : undefined;
    const report = await verifyChecks(sides, checks, opts, replica);
    const objects = opts.skipSchemaObjects ? null : (await compareObjects(sides, objectScope(opts, checks, skipped))).report;
    return completeVerify(report, objects, opts.exclude ?? [], skipped);
  } finally {
    await sides.source.close();
    await sides.target.close();
  }
}
