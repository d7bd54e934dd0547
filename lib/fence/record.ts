import { mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { RollbackError, messageOf } from "../errors";
import { readIfExists, writeFileAtomic } from "../traffic/atomic-file";
import type { Account } from "./accounts";

/**
 * What a fence did, kept in a file so `off` lifts exactly that — after a crash too. It is a file
 * on the runner (the runbook keeps it in the timeline dir), not a table on the fenced server: a
 * table would need CREATE on a schema of ours there, and every write to it would move the commit
 * position the settle check compares. The record is written (fsync'ed, renamed into place)
 * BEFORE the first ALTER USER, with each account's lock state as it was before any fence: a
 * crash between the lock and the kill leaves a record that `off` (or a new `on`) reads, and an
 * account that was locked before stays locked.
 */
export type FenceMethod = "account-lock" | "read-only";
export const FENCE_METHODS: readonly FenceMethod[] = ["account-lock", "read-only"];

export interface FenceRecord {
  readonly version: 1;
  /** user@host:port/db of the fenced server (no password): a record is never applied to another server. */
  readonly server: string;
  readonly method: FenceMethod;
  /** "applying": written before the first change; "on": the fence holds. */
  readonly state: "applying" | "on";
  readonly startedAt: string;
  /** account-lock: every fenced account and whether it was locked before the fence. */
  readonly accounts: readonly (Account & { readonly wasLocked: boolean })[];
  /** read-only: the values before the fence (super_read_only null where the server has none). */
  readonly readOnlyBefore?: { readonly readOnly: boolean; readonly superReadOnly: boolean | null };
  /** The commit position right after the fence held (formatPosition), once state is "on". */
  readonly position?: string | null;
}

export async function readRecord(path: string): Promise<FenceRecord | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  let r: FenceRecord;
  try {
    r = JSON.parse(text) as FenceRecord;
  } catch (e) {
    throw new RollbackError("FILE_UNPARSEABLE", path, messageOf(e), "a fence record is written atomically: restore it from the timeline dir, or lift the fence by hand (ALTER USER … ACCOUNT UNLOCK)");
  }
  if (r.version !== 1 || !FENCE_METHODS.includes(r.method) || !Array.isArray(r.accounts)) {
    throw new RollbackError("FILE_UNPARSEABLE", path, "is not a fence record (version 1)");
  }
  return r;
}

export async function writeRecord(path: string, r: FenceRecord): Promise<void> {
  // The runbook's records live in its timeline dir, which the first run may not have made yet.
  await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
  await writeFileAtomic(path, JSON.stringify(r, null, 2) + "\n");
}

export async function removeRecord(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw new RollbackError("FILE_UNWRITABLE", path, messageOf(e));
  });
}

/** A record made on another server (or by the other method) is refused, never applied here. */
export function assertRecordFor(r: FenceRecord, path: string, server: string, method: FenceMethod): void {
  if (r.server !== server || r.method !== method) {
    throw new RollbackError(
      "STATE_MISMATCH",
      path,
      `records a ${r.method} fence of ${r.server}, not a ${method} fence of ${server}`,
      "use the record of this server (one record file per fenced server), or lift that fence first",
    );
  }
}
