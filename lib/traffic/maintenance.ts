import { hostname, userInfo } from "node:os";
import { RollbackError } from "../errors";
import { readIfExists, removeIfExists, writeFileAtomic } from "./atomic-file";

/**
 * Maintenance mode is a flag file that nginx checks on every request
 * (nginx/maintenance-location.conf: `if (-f flag) { return 503; }`), so turning it on or off
 * needs no reload and cannot fail on a bad config. The file's content says who turned it on,
 * when and why, and that `maintenance on` wrote it (`writtenBy`): `off` removes only such a file,
 * never a flag someone else put there (another team's maintenance, a `touch` by hand, or a
 * typo'd --flag pointing at an unrelated file).
 */
export interface MaintenanceState {
  readonly flag: string;
  readonly maintenance: boolean;
  /** False when the flag was already in the requested state (idempotent: safe to re-run). */
  readonly changed: boolean;
  /** When maintenance was turned on (from the flag), if it is on. */
  readonly since: string | null;
  readonly reason: string | null;
  readonly by: string | null;
  /** Whether the file there was written by `maintenance on` (null when there is none). */
  readonly ours: boolean | null;
}

const WRITTEN_BY = "rollback maintenance.ts";

interface FlagContent {
  writtenBy?: string;
  since?: string;
  reason?: string;
  by?: string;
}

export async function maintenanceStatus(flag: string): Promise<MaintenanceState> {
  const text = await readIfExists(flag);
  return describe(flag, text, false);
}

/** Turns maintenance on: writes the flag atomically, keeping the original `since` if it is already on. */
export async function maintenanceOn(flag: string, reason?: string, now = new Date()): Promise<MaintenanceState> {
  const text = await readIfExists(flag);
  if (text !== undefined) return describe(flag, text, false);
  const content: FlagContent = { writtenBy: WRITTEN_BY, since: now.toISOString(), reason: reason ?? "rollback", by: `${userInfo().username}@${hostname()}` };
  const written = JSON.stringify(content) + "\n";
  await writeFileAtomic(flag, written);
  return describe(flag, written, true);
}

/** Turns maintenance off: removes the flag `on` wrote; already off is fine; a file that is not ours is refused and left. */
export async function maintenanceOff(flag: string): Promise<MaintenanceState> {
  const text = await readIfExists(flag);
  if (text !== undefined && !describe(flag, text, false).ours) {
    throw new RollbackError(
      "FILE_NOT_OURS",
      flag,
      `was not written by "maintenance on" (it holds ${text.trim() === "" ? "nothing" : JSON.stringify(text.slice(0, 60))}); left in place, maintenance stays on`,
      "if that maintenance is over, remove the file by hand; if --flag is wrong, fix it",
    );
  }
  const removed = await removeIfExists(flag);
  return describe(flag, undefined, removed);
}

function describe(flag: string, text: string | undefined, changed: boolean): MaintenanceState {
  if (text === undefined) return { flag, maintenance: false, changed, since: null, reason: null, by: null, ours: null };
  let c: FlagContent = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") c = parsed as FlagContent;
  } catch {
    // A flag someone made by hand (`touch`): nginx only cares that it exists.
  }
  return { flag, maintenance: true, changed, since: c.since ?? null, reason: c.reason ?? null, by: c.by ?? null, ours: c.writtenBy === WRITTEN_BY };
}
