import { createHash } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RollbackError, messageOf } from "../errors";
import type { ApplyCounts } from "./applier";
import type { KeyRange, KeyToken } from "./types";

/**
 * Resume state of a sync, one JSON file per source/target pair (no password in it):
 * per table the key up to which every chunk is committed, and the counts so far. Before a
 * chunk's COMMIT its range and counts are recorded as `pending`; after it, they are folded
 * in. A rerun after kill -9 re-checks the pending range: equal on both sides means the
 * commit landed (its counts are kept), otherwise it is redone and counted then. So the
 * final report says exactly what the interrupted and the resumed run changed together.
 * The file is written atomically (write + rename) and removed when a sync ends identical.
 */

export interface TableState {
  /** Every chunk before this key is committed; absent: start of the table. */
  through?: KeyToken;
  done: boolean;
  counts: ApplyCounts;
  chunks: number;
  chunksChanged: number;
  pending?: { range: KeyRange; counts: ApplyCounts };
}

interface StateFile {
  version: 1;
  source: string;
  target: string;
  startedAt: string;
  tables: Record<string, TableState>;
}

export function zeroCounts(): ApplyCounts {
  return { inserted: 0, updated: 0, deleted: 0, displaced: 0 };
}

export function addCounts(a: ApplyCounts, b: ApplyCounts): ApplyCounts {
  return { inserted: a.inserted + b.inserted, updated: a.updated + b.updated, deleted: a.deleted + b.deleted, displaced: a.displaced + b.displaced };
}

/** The default state file for a source/target pair, under .rollback/ in the working directory. */
export function defaultStateFile(source: string, target: string): string {
  const id = createHash("sha1").update(`${source}\n${target}`).digest("hex").slice(0, 12);
  return join(".rollback", `sync-${id}.json`);
}

export class ResumeState {
  private lastSave = 0;
  private dirReady = false;

  private constructor(
    readonly path: string,
    private readonly state: StateFile,
    /** True when the file came from an interrupted run. */
    readonly resumed: boolean,
  ) {}

  /** Loads the state of an interrupted run for the same pair, or starts fresh (always with `restart`). */
  static async load(path: string, source: string, target: string, restart: boolean): Promise<ResumeState> {
    const fresh = (): StateFile => ({ version: 1, source, target, startedAt: new Date().toISOString(), tables: {} });
    if (restart) return new ResumeState(path, fresh(), false);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      return new ResumeState(path, fresh(), false);
    }
    let parsed: StateFile;
    try {
      parsed = JSON.parse(text) as StateFile;
    } catch (e) {
      throw new RollbackError("STATE_INVALID", path, `resume state is not valid JSON: ${messageOf(e)}`, "delete it or pass --restart");
    }
    if (parsed.version !== 1 || parsed.source !== source || parsed.target !== target) {
      throw new RollbackError("STATE_MISMATCH", path, "resume state belongs to another source/target pair", "pass --state with another file, or --restart");
    }
    return new ResumeState(path, parsed, true);
  }

  get startedAt(): string {
    return this.state.startedAt;
  }

  table(name: string): TableState {
    this.state.tables[name] ??= { done: false, counts: zeroCounts(), chunks: 0, chunksChanged: 0 };
    return this.state.tables[name];
  }

  /** Starts a table over (a later pass re-syncs it from its first key; counts accumulate). */
  reopen(name: string): void {
    const t = this.table(name);
    t.done = false;
    delete t.through;
    delete t.pending;
  }

  /** Records a chunk about to be committed; saved before the COMMIT. */
  async pending(name: string, range: KeyRange, counts: ApplyCounts): Promise<void> {
    this.table(name).pending = { range, counts };
    await this.save(true);
  }

  /** A chunk is committed (or was already equal): move `through` past it. */
  async advance(name: string, range: KeyRange, changed: boolean): Promise<void> {
    const t = this.table(name);
    if (t.pending) t.counts = addCounts(t.counts, t.pending.counts);
    delete t.pending;
    t.chunks++;
    if (changed) t.chunksChanged++;
    if (range.to) t.through = [...range.to];
    else t.done = true;
    // No durable record needed, at most one a second: a rerun re-checks a committed chunk that
    // is still `pending` in the file (and finds it landed), and an equal chunk cheaply. The
    // next chunk's `pending` save carries this progress anyway.
    await this.save(false);
  }

  /** The pending chunk was found not applied after a restart: forget it, it will be redone. */
  dropPending(name: string): void {
    delete this.table(name).pending;
  }

  /**
   * Synchronous on purpose: the save before each COMMIT sits inside the chunk's open
   * transaction, and the thread-pool round trips of the async calls (mkdir, write, rename)
   * waited behind row parsing on a busy event loop (~5 ms a chunk measured); the sync calls
   * take ~0.1 ms and keep the transaction short.
   */
  async save(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.lastSave < 1000) return;
    this.lastSave = now;
    if (!this.dirReady) mkdirSync(dirname(this.path), { recursive: true });
    this.dirReady = true;
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.path);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
