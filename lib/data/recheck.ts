import { Checksum, TableComparer } from "./compare";
import type { TableCheck } from "./preflight";
import type { VerifyTableReport } from "./report";
import { commitMarker, unchanged } from "./stability";
import type { KeyRange } from "./types";
import { Sides, lastUpdate } from "./verify";

/**
 * Sync's final verify, shortened where it can be proven: the sync pass already holds the
 * source's checksum of every chunk. If the source's commit marker has not moved since that
 * pass began, those checksums are still the source's current state, so the target alone is
 * re-checksummed (on two connections: the source is idle) and compared with them. Any doubt —
 * the source committed something, the target changed meanwhile, a chunk differs, the pass was
 * resumed half-way — returns null and the table gets the full two-sided verify instead.
 */
export interface ChunkRecord {
  readonly range: KeyRange;
  readonly source: Checksum;
}

export interface PassRecord {
  /** The source's commit marker read before the pass read its first row. */
  readonly sourceMarker: string | null;
  /** True when the pass covered the whole table (not resumed from the middle). */
  readonly complete: boolean;
  readonly chunks: ChunkRecord[];
}

export async function recheckTarget(sides: Sides, check: TableCheck, pass: PassRecord, comparer: TableComparer): Promise<VerifyTableReport | null> {
  const { source, target } = sides;
  if (!pass.complete || pass.sourceMarker === null) return null;
  const started = Date.now();
  const targetBefore = await commitMarker(target.reader, target.flavor);
  if (!unchanged(pass.sourceMarker, await commitMarker(source.reader, source.flavor))) return null;
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
  const [s, t] = await Promise.all([commitMarker(source.reader, source.flavor), commitMarker(target.reader, target.flavor)]);
  if (!unchanged(pass.sourceMarker, s) || !unchanged(targetBefore, t)) return null;
  const rowsTotal = pass.chunks.reduce((n, c) => n + c.source.n, 0);
  return {
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
  };
}
