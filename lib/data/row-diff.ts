import type { KeyToken } from "./types";
import { keyId, parseKeyToken } from "./values";

/** One row as the row-hash query returns it: key token text and 64-bit row hash (hex). */
export type HashedRow = readonly [key: string, hash: string];

export interface RowDiff {
  /** Keys on the source only. */
  readonly missing: KeyToken[];
  /** Keys on the target only. */
  readonly extra: KeyToken[];
  /** Keys on both sides whose rows differ. */
  readonly changed: KeyToken[];
}

/**
 * Classifies the rows of one chunk. Rows are matched by the exact bytes of their key, not
 * by collation: a key that changed case under a _ci collation is one row missing and one
 * extra, which the applier deletes before it inserts, so the result is the same either way.
 * Output lists keep the source's (key) order, the target's for extras.
 */
export function diffRows(source: readonly HashedRow[], target: readonly HashedRow[]): RowDiff {
  const targetHash = new Map<string, string>();
  for (const [k, h] of target) targetHash.set(k, h);
  const missing: KeyToken[] = [];
  const changed: KeyToken[] = [];
  for (const [k, h] of source) {
    const other = targetHash.get(k);
    if (other === undefined) missing.push(parseKeyToken(k));
    else {
      if (other !== h) changed.push(parseKeyToken(k));
      targetHash.delete(k);
    }
  }
  const extra = [...targetHash.keys()].map(parseKeyToken);
  return { missing, extra, changed };
}

/** The key ids of a list, for membership tests. */
export function idSet(tokens: readonly KeyToken[]): Set<string> {
  return new Set(tokens.map(keyId));
}
