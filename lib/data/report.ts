import type { CommitPosition } from "../flavor";
import type { ShrinkGuardReport } from "./guard";
import type { ObjectsReport } from "./objects";
import type { ReplicaReport } from "./replica";
import type { SchemaDiff } from "./schema-diff";
import type { ProofInfo } from "./stability";

/**
 * The reports verify and sync return (and print with --json), and the arithmetic on them.
 * mismatchPct feeds the R2 "integrity mismatch > 1 %" decision.
 */

export interface SampleKey {
  readonly kind: "missing" | "extra" | "changed";
  /** Key column → value (text decoded, binary as 0x…). */
  readonly key: Record<string, string>;
  /** For changed rows: the columns whose bytes differ. */
  readonly columns?: string[];
}

export interface VerifyTableReport {
  readonly table: string;
  readonly identical: boolean;
  /** False when the rows could not be compared (table on one side only, different keys, no usable key). */
  readonly comparable: boolean;
  /** Why not, when not comparable. */
  readonly notComparable?: string;
  /** The index that identifies rows (plan.ts chooseKey: never an INVISIBLE one); absent when not compared. */
  readonly key?: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  readonly missing: number;
  readonly extra: number;
  readonly changed: number;
  readonly mismatchPct: number;
  readonly sampleKeys: SampleKey[];
  readonly schemaDiffs: readonly SchemaDiff[];
  /** MAX() of the last-update column on each side, when the table has one. */
  readonly lastUpdate: { column: string; source: string | null; target: string | null } | null;
  readonly chunks: number;
  readonly chunksDiffering: number;
  /**
   * "proven": no commit on either server while the table was compared; "assumed": the caller
   * said writes are stopped (--assume-quiet); "changing": commits kept happening, so an
   * identical result could not be proven (identical is then false); "unproven": a
   * non-transactional table (MyISAM, Aria, MEMORY) on a server without a binary log, whose
   * writes nothing can see (identical is then false; stability.ts).
   */
  readonly stability: "proven" | "assumed" | "changing" | "unproven";
  /**
   * "both": both servers checksummed the table. "target": sync's final check, the target
   * re-hashed against the source checksums its pass had just read (recheck.ts).
   */
  readonly checked: "both" | "target";
  readonly rounds: number;
  readonly durationMs: number;
}

/** A table named in --tables that is not compared row by row, and why (a view: compared as a schema object). */
export interface SkippedTable {
  readonly table: string;
  readonly reason: string;
}

export interface VerifyReport {
  /** Rows, table schemas and schema objects (`objects`) all equal. */
  readonly identical: boolean;
  readonly mismatchPct: number;
  readonly rowsCompared: number;
  readonly source: string;
  readonly target: string;
  /** The TLS each side's connections used: mode, then TLS version and cipher or "plain TCP" (lib/mysql.ts describeTls). */
  readonly tls: { readonly source: string; readonly target: string };
  readonly tables: VerifyTableReport[];
  readonly replica?: ReplicaReport;
  /** How "no write during the comparison" was proven on each server; null with --assume-quiet. */
  readonly proof: { readonly source: ProofInfo; readonly target: ProofInfo } | null;
  /**
   * The source's commit position at which all tables were identical at once (fence check
   * --position compares it with the server's current one); null when not identical or not
   * provable (stability.ts provenPosition).
   */
  readonly sourcePosition: SourcePosition | null;
  /** Triggers, views, routines and events compared (objects.ts); set by verify and sync's final verify; null with --skip-schema-objects. */
  readonly objects?: ObjectsReport | null;
  /** Tables left out by --exclude. */
  readonly excluded?: readonly string[];
  /** Names in --tables that are not compared row by row (views), with the reason. */
  readonly skipped?: readonly SkippedTable[];
  readonly durationMs: number;
}

/** A verify report with the schema objects, excluded and skipped tables folded in: objects that differ make it not identical. */
export function completeVerify(r: VerifyReport, objects: ObjectsReport | null, excluded: readonly string[], skipped: readonly SkippedTable[]): VerifyReport {
  return { ...r, identical: r.identical && !objects?.diffs.length, objects, excluded, skipped };
}

/** A commit position (lib/flavor.ts) and the proof behind it ("assumed": --assume-quiet, nothing proven). */
export interface SourcePosition extends CommitPosition {
  /** formatPosition's text: what `fence check --position` takes. */
  readonly text: string;
  readonly proof: ProofInfo["kind"] | "assumed";
}

export interface SyncTableReport {
  readonly table: string;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  /**
   * Target rows deleted because they held a unique value (other than the key) that the
   * source gives to another row; each is rewritten from the source by its own chunk.
   */
  readonly displaced: number;
  /** What an earlier, interrupted run of this sync had committed in the table (null when not resumed). */
  readonly earlier: { inserted: number; updated: number; deleted: number } | null;
  /** How changed rows are written (applier.ts); null when the table needed no pass. */
  readonly strategy: "upsert" | "delete-insert" | null;
  readonly sampleKeys: SampleKey[];
  readonly chunks: number;
  readonly chunksChanged: number;
  readonly autoIncrement: { source: number | null; target: number | null; raisedTo: number | null } | null;
  readonly durationMs: number;
}

export interface IntegrityFinding {
  readonly constraint: string;
  readonly table: string;
  readonly parentTable: string;
  readonly sourceOrphans: number;
  readonly targetOrphans: number;
}

export interface SyncReport {
  readonly identical: boolean;
  readonly dryRun: boolean;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly source: string;
  readonly target: string;
  /** As VerifyReport.tls. */
  readonly tls: { readonly source: string; readonly target: string };
  readonly tables: SyncTableReport[];
  /** Foreign keys whose orphan count differs between target and source after the sync. */
  readonly integrity: IntegrityFinding[];
  /** Sync passes run (a pass re-syncs what the verify after the previous pass still found). */
  readonly passes: number;
  /**
   * Set when this run continued an interrupted one. The counts above are this run's own;
   * `earlier` is what the interrupted run(s) had committed.
   */
  readonly resumed: {
    readonly stateFile: string;
    readonly startedAt: string;
    readonly earlier: { inserted: number; updated: number; deleted: number };
  } | null;
  /**
   * The target's triggers on the synced tables (triggers.ts): saved (also those an earlier
   * killed run had saved), dropped by this run, recreated, and proven equal to the saved
   * definitions. null when there were none (or in a dry run, which drops nothing).
   */
  readonly triggers: { saved: string[]; dropped: string[]; recreated: string[]; verified: boolean } | null;
  readonly verify: VerifyReport | null;
  /**
   * The shrink guard's verdict (guard.ts), taken before anything was written; null in
   * --replica mode (nothing is written). A refused guard makes a real sync throw
   * SHRINK_REFUSED instead of returning; a dry run reports it here.
   */
  readonly guard: ShrinkGuardReport | null;
  readonly replica?: ReplicaReport;
  readonly durationMs: number;
}

/** Mismatching rows as a percentage of all distinct rows (source rows plus target-only rows). */
export function mismatchPct(missing: number, extra: number, changed: number, sourceRows: number): number {
  const universe = sourceRows + extra;
  if (universe === 0) return 0;
  return Math.round(((missing + extra + changed) / universe) * 100 * 10_000) / 10_000;
}

export function summarizeVerify(tables: VerifyTableReport[]): Pick<VerifyReport, "identical" | "mismatchPct" | "rowsCompared"> {
  let missing = 0;
  let extra = 0;
  let changed = 0;
  let sourceRows = 0;
  for (const t of tables) {
    missing += t.missing;
    extra += t.extra;
    changed += t.changed;
    sourceRows += t.sourceRows;
  }
  return {
    identical: tables.every((t) => t.identical),
    mismatchPct: mismatchPct(missing, extra, changed, sourceRows),
    rowsCompared: sourceRows + extra,
  };
}

/** One line per table for people (stderr), e.g. `orders: 3 missing, 1 changed (0.04%)`. */
export function verifyLines(r: VerifyReport): string[] {
  return r.tables.map((t) => {
    if (t.identical) return `${t.table}: identical (${t.sourceRows} rows)`;
    const parts: string[] = [];
    if (!t.comparable) parts.push(`not comparable${t.notComparable ? ` (${t.notComparable})` : ""}`);
    if (t.missing) parts.push(`${t.missing} missing`);
    if (t.extra) parts.push(`${t.extra} extra`);
    if (t.changed) parts.push(`${t.changed} changed`);
    const unsafe = t.schemaDiffs.filter((d) => d.unsafe);
    if (unsafe.length) parts.push(`${unsafe.length} schema difference(s): ${unsafe.map((d) => `${d.kind} ${d.subject}`).join(", ")}`);
    if (t.stability === "changing") parts.push("changed while being compared");
    if (t.stability === "unproven") parts.push("unproven: a non-transactional table on a server without a binary log, whose writes cannot be seen (enable log_bin, or --assume-quiet once writes are stopped)");
    const sample = t.sampleKeys.slice(0, 3).map((s) => `${s.kind} ${JSON.stringify(s.key)}${s.columns ? ` [${s.columns.join(",")}]` : ""}`);
    return `${t.table}: ${parts.join(", ")} (${t.mismatchPct}%)${sample.length ? `; e.g. ${sample.join("; ")}` : ""}`;
  }).concat(objectLines(r), proofLines(r));
}

/** Schema objects that differ, and the tables left out (--exclude) or skipped (views in --tables). */
function objectLines(r: VerifyReport): string[] {
  const out: string[] = [];
  if (r.objects) {
    const o = r.objects;
    for (const d of o.diffs) out.push(`${d.kind} ${d.name}: ${d.difference === "missing" ? "missing on the target" : d.difference === "extra" ? "only on the target" : "definitions differ"}`);
    out.push(
      `schema objects (${o.scope}, definers ${o.definers}): ${o.diffs.length ? `${o.diffs.length} of ${o.compared} differ` : `all ${o.compared} identical`}${o.fixed.length ? `; fixed on the target: ${o.fixed.join(", ")}` : ""}`,
    );
  }
  if (r.excluded?.length) out.push(`excluded (--exclude): ${r.excluded.join(", ")}`);
  for (const s of r.skipped ?? []) out.push(`skipped ${s.table}: ${s.reason}`);
  return out;
}

/** Which stability proof each server got, and the position the result holds at. */
function proofLines(r: VerifyReport): string[] {
  if (!r.proof) return ["stability proof: none (--assume-quiet: writes were assumed stopped)"];
  const side = (p: ProofInfo) =>
    `${p.kind === "binlog" ? "binary log events of the compared tables (scoped)" : "any commit on the server (server-wide marker)"}${p.limitation ? ` — ${p.limitation}` : ""}`;
  const pos = r.sourcePosition ? [`source position proven at: ${r.sourcePosition.text}`] : [];
  return [`stability proof: source ${side(r.proof.source)}; target ${side(r.proof.target)}`, ...pos];
}

export function syncLines(r: SyncReport): string[] {
  const verb = r.dryRun ? "would" : "";
  return r.tables
    .filter((t) => t.inserted || t.updated || t.deleted || t.displaced || t.autoIncrement?.raisedTo)
    .map((t) => {
      const ai = t.autoIncrement?.raisedTo ? `, AUTO_INCREMENT raised to ${t.autoIncrement.raisedTo}` : "";
      const sample = t.sampleKeys.slice(0, 3).map((s) => `${s.kind} ${JSON.stringify(s.key)}`);
      return `${t.table}: ${verb ? `${verb} insert` : "inserted"} ${t.inserted}, ${verb ? "update" : "updated"} ${t.updated}, ${verb ? "delete" : "deleted"} ${t.deleted}${ai}${sample.length ? `; e.g. ${sample.join("; ")}` : ""}`;
    });
}
