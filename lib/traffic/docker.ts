import { RollbackError } from "../errors";
import { CommandResult, describeResult, runCommand } from "./command";

/**
 * The docker CLI, not the Engine API: it honours DOCKER_HOST (tcp:// or ssh://), DOCKER_CONTEXT
 * and the user's TLS settings exactly as `docker` at the console does, with nothing to configure.
 */
export interface ContainerState {
  /** created | running | paused | restarting | removing | exited | dead */
  readonly status: string;
  /** healthy | unhealthy | starting; null when the image defines no HEALTHCHECK. */
  readonly health: string | null;
  readonly failingStreak: number | null;
  /** The last health probe's output (first 200 characters). */
  readonly lastHealthOutput: string | null;
  readonly exitCode: number | null;
  readonly oomKilled: boolean;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly restartCount: number;
}

export interface Docker {
  /** The docker executable (default `docker` from PATH). */
  readonly bin: string;
  /** Every docker command run, in order, as evidence for the report. */
  readonly calls: CommandResult[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Container names (or ids) as docker accepts them; anything else (e.g. "-f") is refused before docker runs. */
export function parseContainerName(text: string, subject = "--container"): string {
  if (!NAME.test(text)) throw new RollbackError("ARGS_INVALID", subject, `"${text}" is not a container name`, "see `docker ps -a`");
  return text;
}

async function docker(d: Docker, args: string[], timeoutMs = 60_000): Promise<CommandResult> {
  const r = await runCommand([d.bin, ...args], { timeoutMs });
  d.calls.push(r);
  return r;
}

export async function inspectContainer(d: Docker, name: string): Promise<ContainerState> {
  const r = await docker(d, ["inspect", "--type", "container", name]);
  if (!r.ok) {
    if (/no such (object|container)/i.test(r.stderr)) {
      throw new RollbackError("CONTAINER_NOT_FOUND", name, "no such container", "check the name with `docker ps -a` (and DOCKER_HOST)");
    }
    throw new RollbackError("DOCKER_UNAVAILABLE", name, describeResult(r), "is the docker CLI installed and DOCKER_HOST reachable?");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new RollbackError("DOCKER_OUTPUT", name, "docker inspect did not print JSON");
  }
  const first = Array.isArray(parsed) ? (parsed[0] as { State?: Record<string, unknown>; RestartCount?: unknown } | undefined) : undefined;
  if (!first?.State) throw new RollbackError("CONTAINER_NOT_FOUND", name, "docker inspect returned no container");
  return stateOf(first.State, Number(first.RestartCount ?? 0));
}

/** The fields of `docker inspect`'s State that decide what to do. Pure. */
export function stateOf(s: Record<string, unknown>, restartCount: number): ContainerState {
  const health = s.Health as { Status?: string; FailingStreak?: number; Log?: { Output?: string }[] } | undefined;
  const last = health?.Log?.length ? health.Log[health.Log.length - 1].Output ?? null : null;
  return {
    status: String(s.Status ?? "unknown"),
    health: health?.Status ?? null,
    failingStreak: health?.FailingStreak ?? null,
    lastHealthOutput: last === null ? null : last.trim().slice(0, 200),
    exitCode: typeof s.ExitCode === "number" ? s.ExitCode : null,
    oomKilled: s.OOMKilled === true,
    startedAt: typeof s.StartedAt === "string" ? s.StartedAt : null,
    finishedAt: typeof s.FinishedAt === "string" ? s.FinishedAt : null,
    restartCount,
  };
}

/** `docker restart --time N`: a database gets N seconds to shut down cleanly before SIGKILL (docker's default is 10). */
export async function restartContainer(d: Docker, name: string, stopTimeoutS: number): Promise<void> {
  const r = await docker(d, ["restart", "--time", String(stopTimeoutS), name], (stopTimeoutS + 60) * 1000);
  if (!r.ok) throw new RollbackError("DOCKER_RESTART", name, describeResult(r));
}

export async function unpauseContainer(d: Docker, name: string): Promise<void> {
  const r = await docker(d, ["unpause", name]);
  if (!r.ok) throw new RollbackError("DOCKER_UNPAUSE", name, describeResult(r));
}
