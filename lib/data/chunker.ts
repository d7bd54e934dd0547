import type { Connection } from "mysql2/promise";
import { rows } from "./session";
import { boundarySql, keyBoundsSql } from "./sql";
import type { KeyRange, KeyToken, TablePlan } from "./types";
import { parseKeyToken } from "./values";

/**
 * Chunk boundaries by keyset walk: from a chunk's first key, the key `size` rows further in
 * index order starts the next chunk. Each step reads `size` index entries, so the whole walk
 * is one pass over the key; chunks follow the data, whatever gaps the key has.
 */

export const MIN_CHUNK = 100;
export const MAX_CHUNK = 25_000;

/**
 * The chunk size: fixed, or adapted so one chunk's checksum takes about `targetMs`
 * (pt-table-sync's --chunk-time idea), moving at most 2x per chunk to damp noise.
 */
export class ChunkSizer {
  private current: number;

  constructor(
    initial: number,
    private readonly targetMs?: number,
  ) {
    this.current = clamp(initial);
  }

  get size(): number {
    return this.current;
  }

  /** Feeds back how long comparing `rows` rows took. */
  observe(rows: number, elapsedMs: number): void {
    if (!this.targetMs || rows < MIN_CHUNK || elapsedMs <= 0) return;
    const ideal = (rows * this.targetMs) / elapsedMs;
    this.current = clamp(Math.min(this.current * 2, Math.max(this.current / 2, ideal)));
  }
}

function clamp(n: number): number {
  return Math.round(Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, n)));
}

/** Consecutive ranges covering `range`, each holding `size()` rows of the walked server (the last fewer). */
export async function* walk(conn: Connection, plan: TablePlan, range: KeyRange, size: () => number): AsyncGenerator<KeyRange> {
  let from = range.from;
  for (;;) {
    const [next] = await rows<{ k: string }>(conn, boundarySql(plan, { from, to: range.to }, size()));
    if (!next) {
      yield { from, to: range.to };
      return;
    }
    const to: KeyToken = parseKeyToken(String(next.k));
    yield { from, to };
    from = to;
  }
}

/** Whether a table's chunks can be cut by key value instead of by walking the key: one integer column. */
export function steppable(plan: TablePlan): boolean {
  return plan.key.columns.length === 1 && plan.key.columns[0].kind === "integer";
}

/**
 * Rows per key value, learnt from the chunks compared so far; it sets how many key values
 * the next chunk spans. Starts at 1 (AUTO_INCREMENT), moves at most 4x per chunk, so a gap
 * widens the step quickly and a dense stretch narrows it (a range that still holds too many
 * rows is split by walking, compare.ts).
 */
export class KeyDensity {
  private rowsPerKey = 1;

  get value(): number {
    return this.rowsPerKey;
  }

  observe(range: KeyRange, rows: number): void {
    if (!range.from || !range.to) return;
    const span = Number(BigInt(range.to[0]) - BigInt(range.from[0]));
    if (span <= 0) return;
    const seen = rows / span;
    this.rowsPerKey = Math.min(this.rowsPerKey * 4, Math.max(this.rowsPerKey / 4, seen, 1e-15));
  }
}

/**
 * Consecutive ranges covering `range` for a single integer key, cut by key value: each spans
 * about `size()` rows at the density seen so far. No walk: where a keyset walk reads every
 * row of the source once more just to find boundaries (~0.15 µs a row, on the busier
 * server), this reads the range's MIN and MAX once. The last range is open-ended, so keys
 * the other side has beyond the walked side's MAX are covered.
 */
export async function* stepByValue(conn: Connection, plan: TablePlan, range: KeyRange, size: () => number, density: KeyDensity): AsyncGenerator<KeyRange> {
  const [b] = await rows<{ lo: string | null; hi: string | null }>(conn, keyBoundsSql(plan, range));
  if (!b || b.lo === null || b.hi === null) {
    yield range;
    return;
  }
  const hi = BigInt(b.hi);
  let at = BigInt(b.lo);
  let from = range.from;
  for (;;) {
    const to = at + BigInt(Math.max(1, Math.round(size() / density.value)));
    if (to > hi) {
      yield { from, to: range.to };
      return;
    }
    const token: KeyToken = [to.toString()];
    yield { from, to: token };
    from = token;
    at = to;
  }
}

/**
 * Runs an async iterator one step ahead of its consumer, so the next boundary is being
 * looked up while the current chunk is checksummed.
 */
export async function* prefetch<T>(source: AsyncIterator<T>): AsyncGenerator<T> {
  let pending = source.next();
  try {
    for (;;) {
      const r = await pending;
      if (r.done) return;
      pending = source.next();
      yield r.value;
    }
  } finally {
    pending.then(
      () => source.return?.(),
      () => undefined,
    );
  }
}
