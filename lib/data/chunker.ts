import type { Connection } from "mysql2/promise";
import { rows } from "./session";
import { boundarySql } from "./sql";
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
