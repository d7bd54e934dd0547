import type { VerifyOptions } from "../../lib/data/verify";
import type { Pair } from "./pair";

/**
 * Verify of one table, in chunks of `chunkSize`, that runs `sql` on the source once, right
 * after the first chunk was compared: a write behind an already-compared chunk, which only the
 * stability proof can see. Returns the report and whether the write happened.
 */
export async function verifyWithWriteBehind(pair: Pair, table: string, sql: string[], opts: Partial<VerifyOptions> = {}) {
  let wrote = false;
  const report = await pair.verify({
    tables: [table],
    chunkSize: 200,
    rounds: 1,
    ...opts,
    onChunk: async (e) => {
      if (!wrote && e.chunk.range.to) {
        wrote = true;
        await pair.onSource(...sql);
      }
    },
  });
  return { report, wrote };
}
