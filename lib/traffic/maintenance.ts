import { hostname, userInfo } from "node:os";
import { readIfExists, removeIfExists, writeFileAtomic } from "./atomic-file";

/**
 * Maintenance mode is a flag file that nginx checks on every request
 * (nginx/maintenance-location.conf: `if (-f flag) { return 503; }`), so turning it on or off
 * needs no reload and cannot fail on a bad config. The file's content is only for people:
 * who turned it on, when, and why.
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
}

interface FlagContent {
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
  const content: FlagContent = { since: now.toISOString(), reason: reason ?? "rollback", by: `${userInfo().username}@${hostname()}` };
  const written = JSON.stringify(content) + "\n";
  await writeFileAtomic(flag, written);
  return describe(flag, written, true);
}

/** Turns maintenance off: removes the flag; already off is fine. */
export async function maintenanceOff(flag: string): Promise<MaintenanceState> {
  const removed = await removeIfExists(flag);
  return describe(flag, undefined, removed);
}

function describe(flag: string, text: string | undefined, changed: boolean): MaintenanceState {
  if (text === undefined) return { flag, maintenance: false, changed, since: null, reason: null, by: null };
  let c: FlagContent = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") c = parsed as FlagContent;
  } catch {
    // A flag someone made by hand (`touch`): nginx only cares that it exists.
  }
  return { flag, maintenance: true, changed, since: c.since ?? null, reason: c.reason ?? null, by: c.by ?? null };
}
