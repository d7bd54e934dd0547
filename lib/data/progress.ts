import { Progress } from "../progress";
import type { ChunkEvent } from "./verify";

/**
 * Progress per table for the scripts: rows done, rate and ETA (from the source's row
 * estimate) on a TTY, plain lines otherwise; always on stderr so --json keeps stdout clean.
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
        current = { key, bar: new Progress({ label: key, total: Math.max(e.estimatedRows, e.rowsDone) || undefined, quiet }) };
      }
      current.bar.set(e.rowsDone);
    },
    done,
  };
}
