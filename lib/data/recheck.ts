import { Checksum, TableComparer } from "./compare";
import type { TableCheck } from "./preflight";
import type { VerifyTableReport } from "./report";
import { Point, recordProof, scopeOf, stabilityOf } from "./stability";
import type { KeyRange } from "./types";
import { Sides, lastUpdate } from "./verify";

/**
 * Sync's final verify, shortened where it can be proven: the sync pass already holds the
 * source's checksum of every chunk. If the source's commit marker has not moved since that
 * pass began (for this table: stability.ts), those checksums are still the source's current state, so the target alone is
 * re-checksummed (on two connections: the source is idle) and compared with them. Any doubt —
 * the source committed something, the target changed meanwhile, a chunk differs, the pass was
 * resumed half-way — returns null and the table gets the full two-sided verify instead.
 */
export interface ChunkRecord {
  readonly range: KeyRange;
  readonly source: Checksum;
}

export interface PassRecord {
  /** The source's stability point read before the pass read its first row. */
  readonly sourcePoint: Point | null;
  /** True when the pass covered the whole table (not resumed from the middle). */
  readonly complete: boolean;
  readonly chunks: ChunkRecord[];
}

export async function recheckTarget(sides: Sides, check: TableCheck, pass: PassRecord, comparer: TableComparer): Promise<VerifyTableReport | null> {
  const { source, target } = sides;
  const [ss, ts] = await Promise.all([stabilityOf(source), stabilityOf(target)]);
  const [sourceScope, targetScope] = [scopeOf(check, source), scopeOf(check, target)];
  if (!pass.complete || !pass.sourcePoint || !ss || !ts || !ss.covers(sourceScope) || !ts.covers(targetScope)) return null;
  const started = Date.now();
  const targetBefore = await ts.point();
  if (!(await ss.quiet(pass.sourcePoint, await ss.point(), sourceScope))) return null;
  let next = 0;
  let mismatch = false;
  const worker = async (conn: typeof target.reader) => {
    while (!mismatch && next < pass.chunks.length) {
      const c = pass.chunks[next++];
      const t = await comparer.checksum(target, c.range, conn);
      if (t.n !== c.source.n || t.x === null || t.x !== c.source.x) mismatch = true;
    }
  };
  await Promise.all([worker(target.reader), worker(target.walker)]);
  if (mismatch) return null;
  const [s, t] = await Promise.all([ss.point(), ts.point()]);
  if (!(await ss.quiet(pass.sourcePoint, s, sourceScope)) || !(await ts.quiet(targetBefore, t, targetScope))) return null;
  const rowsTotal = pass.chunks.reduce((n, c) => n + c.source.n, 0);
  return recordProof({
    table: check.table,
    identical: !check.schemaDiffs.some((d) => d.unsafe),
    comparable: true,
    sourceRows: rowsTotal,
    targetRows: rowsTotal,
    missing: 0,
    extra: 0,
    changed: 0,
    mismatchPct: 0,
    sampleKeys: [],
    schemaDiffs: check.schemaDiffs,
    lastUpdate: await lastUpdate(sides, check),
    chunks: pass.chunks.length,
    chunksDiffering: 0,
    stability: "proven",
    checked: "target",
    rounds: 1,
    durationMs: Date.now() - started,
  }, s);
}
