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

/**
 * Stops a child: `terminate` asks it to exit (its own signal, to it or its group), then its
 * process group gets SIGKILL if it is still there after `graceMs`. Resolves once it exited.
 */
export async function stopChild(child: ChildProcess, terminate: () => void, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    terminate();
  });
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
