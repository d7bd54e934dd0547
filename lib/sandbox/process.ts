import type { ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";

/** Signals a child started with `detached: true` and everything it started (its process group). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
