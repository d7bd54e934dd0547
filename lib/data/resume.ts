import { createHash } from "node:crypto";
import { mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RollbackError, messageOf } from "../errors";
import type { ApplyCounts } from "./applier";
import type { SavedTrigger } from "./triggers";
import type { KeyRange, KeyToken } from "./types";

/**
 * Resume state of a sync (no password in it): per table the key up to which every chunk is
 * committed, and the counts so far. Before a chunk's COMMIT its range and counts are recorded
 * as `pending`; after it, they are folded in. A rerun after kill -9 re-checks the pending
 * range: equal on both sides means the commit landed (its counts belong to the earlier run),
 * otherwise it is redone and counted then.
 *
 * The state belongs to one sync: one pair of servers (label and server identity of each side)
 * and one selection of tables. A run with another pair or selection refuses it rather than
 * skipping tables another run finished (issue 12 item 4). It is kept when a run fails or is
 * killed (so the same run resumes) and removed when a run ends with a report. It also carries
 * the target's trigger definitions while they are dropped (triggers.ts), saved before the
 * first DROP. Written atomically (write + rename); a file the tool did not write is never
 * overwritten nor removed (issue 14).
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

/** One side of the pair a state belongs to. */
export interface StateServer {
  /** host:port/db (not the account: another user may resume it). */
  readonly label: string;
  /** flavor.ts serverIdentitySql: @@server_uuid, or MariaDB's host:port#server_id. */
  readonly identity: string;
}

const FORMAT = "idc-rollback-sync-state";

interface StateFile {
  format: typeof FORMAT;
  version: 2;
  source: StateServer;
  target: StateServer;
  /** The tables this sync works on, sorted. */
  selection: string[];
  startedAt: string;
  tables: Record<string, TableState>;
  /** Target triggers dropped for the sync and not yet recreated. */
  triggers: SavedTrigger[];
}

export function zeroCounts(): ApplyCounts {
  return { inserted: 0, updated: 0, deleted: 0, displaced: 0 };
}

export function addCounts(a: ApplyCounts, b: ApplyCounts): ApplyCounts {
  return { inserted: a.inserted + b.inserted, updated: a.updated + b.updated, deleted: a.deleted + b.deleted, displaced: a.displaced + b.displaced };
}

export function subtractCounts(a: ApplyCounts, b: ApplyCounts): ApplyCounts {
  return { inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted, displaced: a.displaced - b.displaced };
}

/** The default state file for a source/target pair, under .rollback/ in the working directory. */
export function defaultStateFile(source: string, target: string): string {
  const id = createHash("sha1").update(`${source}\n${target}`).digest("hex").slice(0, 12);
  return join(".rollback", `sync-${id}.json`);
}

function isStateFile(v: unknown): v is StateFile {
  return typeof v === "object" && v !== null && (v as StateFile).format === FORMAT;
}

/**
 * Refuses a path the state cannot safely live at: a directory, a missing parent directory (a
 * typo'd --state; the default .rollback/ is created), a file that is not one of ours.
 * Returns our state found there, if any.
 */
async function inspect(path: string, createParent: boolean): Promise<StateFile | null> {
  const kind = (p: string) => {
    try {
      return statSync(p).isDirectory() ? "dir" : "file";
    } catch {
      return "none";
    }
  };
  if (kind(path) === "dir") throw new RollbackError("STATE_INVALID", path, "is a directory, not a state file", "pass --state with a file path");
  if (!createParent && kind(dirname(path)) !== "dir") {
    throw new RollbackError("STATE_INVALID", path, `its directory ${dirname(path)} does not exist`, "create it, or pass --state with a path in an existing directory");
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    parsed = messageOf(e);
  }
  if (!isStateFile(parsed)) {
    throw new RollbackError(
      "STATE_INVALID",
      path,
      "exists and is not a sync state file written by this tool; it is left untouched (also with --restart)",
      "pass --state with another path, or move that file away yourself",
    );
  }
  if (parsed.version !== 2) throw new RollbackError("STATE_INVALID", path, `state format version ${parsed.version} is not this tool's (2)`, "finish it with the tool that wrote it, or remove it yourself");
  return parsed;
}

export interface StateIdentity {
  readonly source: StateServer;
  readonly target: StateServer;
  readonly selection: readonly string[];
}

export class ResumeState {
  private lastSave = 0;
  private dirReady = false;
  /** Counts the earlier run(s) had committed, per table, when this run took the state over. */
  private readonly earlierCounts = new Map<string, ApplyCounts>();

  private constructor(
    readonly path: string | null,
    private readonly state: StateFile,
    /** True when the state came from an earlier run of this same sync. */
    readonly resumed: boolean,
  ) {
    for (const [name, t] of Object.entries(state.tables)) this.earlierCounts.set(name, { ...t.counts });
  }

  /** A state that is never written (dry runs). */
  static memory(id: StateIdentity): ResumeState {
    return new ResumeState(null, fresh(id), false);
  }

  /**
   * The state of an earlier run of the same sync, or a fresh one. `restart` discards the
   * earlier progress but keeps trigger definitions it still holds (they must be recreated).
   */
  static async load(path: string, id: StateIdentity, opts: { restart: boolean; createParent: boolean; anySelection?: boolean }): Promise<ResumeState> {
    const found = await inspect(path, opts.createParent);
    if (!found) return new ResumeState(path, fresh(id), false);
    if (opts.restart) return new ResumeState(path, { ...fresh(id), triggers: found.triggers }, false);
    const same = (a: StateServer, b: StateServer) => a.label === b.label && a.identity === b.identity;
    if (!same(found.source, id.source) || !same(found.target, id.target)) {
      throw new RollbackError(
        "STATE_MISMATCH",
        path,
        `resume state belongs to another pair of servers (${found.source.label} [${found.source.identity}] -> ${found.target.label} [${found.target.identity}])`,
        "pass --state with another file, or --restart to discard it",
      );
    }
    if (!opts.anySelection && found.selection.join("\n") !== [...id.selection].sort().join("\n")) {
      throw new RollbackError(
        "STATE_MISMATCH",
        path,
        `resume state belongs to an unfinished sync of other tables (${found.selection.join(", ")}, started ${found.startedAt})`,
        "rerun with that --tables/--exclude selection to finish it, or pass --restart to discard its progress (saved triggers are still recreated)",
      );
    }
    return new ResumeState(path, found, true);
  }

  get startedAt(): string {
    return this.state.startedAt;
  }

  table(name: string): TableState {
    this.state.tables[name] ??= { done: false, counts: zeroCounts(), chunks: 0, chunksChanged: 0 };
    return this.state.tables[name];
  }

  /** What the earlier run(s) had committed in a table before this run resumed it. */
  earlier(name: string): ApplyCounts {
    return this.earlierCounts.get(name) ?? zeroCounts();
  }

  /** What this run committed in a table. */
  ownCounts(name: string): ApplyCounts {
    return subtractCounts(this.table(name).counts, this.earlier(name));
  }

  get triggers(): readonly SavedTrigger[] {
    return this.state.triggers;
  }

  /** Records trigger definitions before they are dropped; durable before this returns. */
  async saveTriggers(triggers: readonly SavedTrigger[]): Promise<void> {
    this.state.triggers = [...triggers];
    await this.save(true);
  }

  async clearTriggers(): Promise<void> {
    this.state.triggers = [];
    await this.save(true);
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

  /** The earlier run's pending chunk did commit: its counts are that run's. */
  async landed(name: string): Promise<void> {
    const pending = this.table(name).pending;
    if (pending) this.earlierCounts.set(name, addCounts(this.earlier(name), pending.counts));
    if (pending) await this.advance(name, pending.range, true);
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
    if (!this.path) return;
    const now = Date.now();
    if (!force && now - this.lastSave < 1000) return;
    this.lastSave = now;
    if (!this.dirReady) mkdirSync(dirname(this.path), { recursive: true });
    this.dirReady = true;
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  /** Removes the file (it is ours: load() refused anything else); kept while triggers are saved in it. */
  async clear(): Promise<void> {
    if (!this.path || this.state.triggers.length) return;
    await rm(this.path, { force: true });
  }
}

function fresh(id: StateIdentity): StateFile {
  return {
    format: FORMAT,
    version: 2,
    source: id.source,
    target: id.target,
    selection: [...id.selection].sort(),
    startedAt: new Date().toISOString(),
    tables: {},
    triggers: [],
  };
}
