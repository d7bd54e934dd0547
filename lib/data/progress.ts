import { Progress } from "../progress";
import type { ChunkEvent } from "./verify";

/**
 * Progress per table for the scripts: "apply orders (table 3 of 12): rows done, rate and ETA"
 * (from the source's row estimate) on a TTY, plain lines otherwise; always on stderr so --json
 * keeps stdout clean.
 */
export function tableProgress(quiet: boolean): { onChunk(e: ChunkEvent): void; done(note?: string): void } {
  let current: { key: string; bar: Progress } | undefined;
  const done = (note = "") => {
    current?.bar.finish(note);
    current = undefined;
  };
  return {
    onChunk(e) {
      const key = `${e.phase} ${e.table}`;
      if (current?.key !== key) {
        done();
        const label = e.position ? `${key} (table ${e.position.index} of ${e.position.of})` : key;
        current = { key, bar: new Progress({ label, total: Math.max(e.estimatedRows, e.rowsDone) || undefined, quiet }) };
      }
      current.bar.set(e.rowsDone);
    },
    done,
  };
}
