import { Dsn, describeDsn } from "../dsn";
import { messageOf } from "../errors";
import { connect } from "../mysql";
import { ContainerState, Docker, inspectContainer, restartContainer, unpauseContainer } from "./docker";

/**
 * The IDC MySQL container (R3: "check the IDC MySQL Docker container and restart it if
 * unhealthy"; R5: re-check the service): its docker state and health, and whether MySQL itself
 * answers at DATABASE_URL — a container can be "healthy" while the network to it is not.
 */
export type ContainerAction =
  /** Healthy: nothing to do. */
  | "none"
  /** Unhealthy, exited, created or dead: `docker restart`. */
  | "restart"
  /** Paused: `docker unpause` (a restart would lose nothing but is slower). */
  | "unpause"
  /** Docker is already bringing it up (restart policy, or the health check is still `starting`): just wait. */
  | "wait";

/** What to do about a container in this state. Pure. */
export function decideAction(s: ContainerState, force = false): ContainerAction {
  if (force) return "restart";
  if (s.status === "paused") return "unpause";
  if (s.status === "restarting") return "wait";
  if (s.status !== "running") return "restart";
  if (s.health === "unhealthy") return "restart";
  if (s.health === "starting") return "wait";
  return "none";
}

/** Running, and healthy when the image has a HEALTHCHECK. */
export function isReady(s: ContainerState): boolean {
  return s.status === "running" && (s.health === null || s.health === "healthy");
}

export interface MysqlAnswer {
  readonly server: string;
  readonly answered: boolean;
  readonly version: string | null;
  readonly latencyMs: number;
  readonly error: string | null;
  /**
   * Why it did not answer: `credentials` when the server is up and refused the login (or the
   * database): the container is fine and restarting it would only add an outage; `unreachable`
   * for everything else (refused, timed out, reset).
   */
  readonly failure: "credentials" | "unreachable" | null;
}

/**
 * MySQL's refusals of a login, which only a running server sends: ER_ACCESS_DENIED_ERROR (1045),
 * ER_DBACCESS_DENIED_ERROR (1044), ER_BAD_DB_ERROR (1049), ER_ACCESS_DENIED_NO_PASSWORD_ERROR
 * (1698), and an auth plugin the client cannot speak (1251, 2059). Matched on mysql2's message,
 * which carries the server's text (the wrapped DB_CONNECT error keeps only the message).
 */
const CREDENTIALS_REFUSED = /Access denied for user|Unknown database|Client does not support authentication protocol|Authentication plugin/i;

export function failureOf(error: string): "credentials" | "unreachable" {
  return CREDENTIALS_REFUSED.test(error) ? "credentials" : "unreachable";
}

/** One line for a MySQL that did not answer, saying what to do (never a restart, for refused credentials). */
function describeNoAnswer(m: MysqlAnswer): string {
  return m.failure === "credentials"
    ? `MySQL at ${m.server} is up but refused the login (${m.error}): a credentials problem in DATABASE_URL (user, password or database), not the container; restarting it would not help`
    : `MySQL does not answer at ${m.server}: ${m.error}`;
}

export async function pingMysql(dsn: Dsn, timeoutMs = 5_000): Promise<MysqlAnswer> {
  const server = describeDsn(dsn);
  const started = Date.now();
  try {
    const c = await connect(dsn, { connectTimeout: Math.max(1_000, timeoutMs) });
    try {
      const [rows] = await c.query("SELECT VERSION() AS v");
      return { server, answered: true, version: String((rows as { v: string }[])[0].v), latencyMs: Date.now() - started, error: null, failure: null };
    } finally {
      await c.end().catch(() => undefined);
    }
  } catch (e) {
    return { server, answered: false, version: null, latencyMs: Date.now() - started, error: messageOf(e), failure: failureOf(messageOf(e)) };
  }
}

export interface IdcMysqlOptions {
  readonly container: string;
  /** When set, "ready" also means MySQL answers a query here. */
  readonly dsn?: Dsn;
  /** How long restart waits for the container to become ready. */
  readonly timeoutS: number;
  /** Restart even when healthy. */
  readonly force?: boolean;
  readonly stopTimeoutS?: number;
  readonly pollMs?: number;
  /** The docker executable; `docker` from PATH by default. */
  readonly dockerBin?: string;
  readonly log?: (line: string) => void;
}

export interface IdcMysqlReport {
  readonly ok: boolean;
  readonly verb: "check" | "restart";
  readonly container: string;
  /** Where the docker CLI was pointed (DOCKER_HOST), null for the local engine. */
  readonly dockerHost: string | null;
  readonly action: ContainerAction | null;
  readonly before: ContainerState;
  /** State after the action and the wait; null when nothing was done. */
  readonly after: ContainerState | null;
  /** null when DATABASE_URL was not given. */
  readonly mysql: MysqlAnswer | null;
  readonly waitedMs: number;
  readonly timeoutS: number;
  readonly dockerCommands: readonly { argv: readonly string[]; exitCode: number | null; durationMs: number }[];
  readonly problem: string | null;
}

function dockerOf(opts: IdcMysqlOptions): Docker {
  return { bin: opts.dockerBin ?? "docker", calls: [] };
}

function describeState(s: ContainerState): string {
  return `${s.status}${s.health ? `/${s.health}` : ""}${s.failingStreak ? ` (failing streak ${s.failingStreak})` : ""}`;
}

/** The action in words, for the log line ("is running/healthy: nothing to do"). */
const ACTION_WORDS: Record<ContainerAction, string> = {
  none: "nothing to do (it is running and healthy)",
  restart: "restarting it",
  unpause: "unpausing it",
  wait: "docker is already bringing it up; waiting",
};

/** Reads the state; changes nothing. */
export async function checkIdcMysql(opts: IdcMysqlOptions): Promise<IdcMysqlReport> {
  const d = dockerOf(opts);
  const before = await inspectContainer(d, opts.container);
  const mysql = opts.dsn ? await pingMysql(opts.dsn) : null;
  const problem = !isReady(before)
    ? `container is ${describeState(before)}`
    : mysql && !mysql.answered
      ? `container is ${describeState(before)} but ${describeNoAnswer(mysql)}`
      : null;
  opts.log?.(`idc-mysql: ${opts.container} is ${describeState(before)}${mysql ? `, MySQL ${mysql.answered ? `answers (${mysql.version})` : "does not answer"}` : ""}`);
  return report(opts, d, "check", null, before, null, mysql, 0, problem);
}

/**
 * Restarts the container when it is not healthy (or always, with `force`), then waits until it
 * is running, healthy and MySQL answers, up to `timeoutS`. A container that docker calls healthy
 * but that does not answer here is NOT restarted: that is the network, and a restart would only
 * add an outage (use force to override).
 */
export async function restartIdcMysql(opts: IdcMysqlOptions): Promise<IdcMysqlReport> {
  const log = opts.log ?? (() => undefined);
  const d = dockerOf(opts);
  const started = Date.now();
  const before = await inspectContainer(d, opts.container);
  const action = decideAction(before, opts.force);
  log(`idc-mysql: ${opts.container} is ${describeState(before)}: ${ACTION_WORDS[action]}`);

  if (action === "none") {
    const mysql = opts.dsn ? await pingMysql(opts.dsn) : null;
    const problem =
      mysql && !mysql.answered
        ? mysql.failure === "credentials"
          ? `container is healthy; ${describeNoAnswer(mysql)} (not restarted)`
          : `container is healthy but ${describeNoAnswer(mysql)} (not restarted; check the network, or --force)`
        : null;
    return report(opts, d, "restart", action, before, null, mysql, Date.now() - started, problem);
  }
  if (action === "restart") await restartContainer(d, opts.container, opts.stopTimeoutS ?? 60);
  if (action === "unpause") await unpauseContainer(d, opts.container);

  const deadline = started + opts.timeoutS * 1000;
  let after = before;
  let mysql: MysqlAnswer | null = null;
  for (;;) {
    after = await inspectContainer(d, opts.container);
    if (isReady(after)) {
      mysql = opts.dsn ? await pingMysql(opts.dsn, Math.min(5_000, Math.max(1_000, deadline - Date.now()))) : null;
      // A refused login is an answer: the server is up; waiting longer would not change it.
      if (!mysql || mysql.answered || mysql.failure === "credentials") break;
    }
    if (Date.now() >= deadline) break;
    log(`idc-mysql: waiting: ${describeState(after)}${mysql ? `, MySQL: ${mysql.error}` : ""}`);
    await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 1_000, Math.max(0, deadline - Date.now()))));
  }
  const ready = isReady(after) && (!mysql || mysql.answered);
  const waitedMs = Date.now() - started;
  const problem = ready
    ? null
    : mysql?.failure === "credentials"
      ? `container ${describeState(after)}; ${describeNoAnswer(mysql)}`
      : `not ready after ${opts.timeoutS}s: container ${describeState(after)}${mysql && !mysql.answered ? `, MySQL does not answer: ${mysql.error}` : ""}`;
  log(`idc-mysql: ${ready ? `ready after ${waitedMs} ms` : problem}`);
  return report(opts, d, "restart", action, before, after, mysql, waitedMs, problem);
}

function report(
  opts: IdcMysqlOptions,
  d: Docker,
  verb: IdcMysqlReport["verb"],
  action: ContainerAction | null,
  before: ContainerState,
  after: ContainerState | null,
  mysql: MysqlAnswer | null,
  waitedMs: number,
  problem: string | null,
): IdcMysqlReport {
  return {
    ok: problem === null,
    verb,
    container: opts.container,
    dockerHost: process.env.DOCKER_HOST ?? null,
    action,
    before,
    after,
    mysql,
    waitedMs,
    timeoutS: opts.timeoutS,
    dockerCommands: d.calls.map((c) => ({ argv: c.argv, exitCode: c.exitCode, durationMs: c.durationMs })),
    problem,
  };
}
