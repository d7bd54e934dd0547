import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { RollbackError } from "../errors";

/** The environment variable that names the run: required in CI, optional by hand. */
const RUN_ID_ENV = "ROLLBACK_RUN_ID";

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface RunIdContext {
  /** This program run is the preview (`pulumi preview`, or the first phase of `pulumi up`). */
  readonly dryRun: boolean;
  /**
   * Where a preview leaves its id for the update that follows it (per stack, under the
   * project's timeline folder). `pulumi up` runs the program twice, in two processes: the
   * preview, then the update; without this, the time fallback gives each phase its own id.
   */
  readonly handOver: string;
  readonly now?: () => Date;
}

/**
 * The id of this run of the runbook. Every runbook command has it as a trigger, so a new id
 * makes `pulumi up` run the whole runbook again, sync and verify included; preview shows each
 * command as a replacement (`+-`, triggers changed). It is not stack config on purpose:
 * `pulumi up -c` would write it into the stack file, pinning it, and a pinned id means the
 * next `up` re-verifies nothing.
 *
 * - In CI (`CI` or `GITHUB_ACTIONS` set) it is required: the workflow sets one per workflow run
 *   (`github.run_id`), the same across its jobs and across re-run attempts, so an attempt that
 *   repeats a failed switch resumes it (Pulumi runs again what did not succeed) instead of
 *   re-running every step.
 * - By hand it may be given; else a preview takes the time and leaves it in `handOver`, and the
 *   update that follows takes it from there (and removes it, so the next `up` is a new run). An
 *   update with no preview before it (`up --skip-preview`) takes the time.
 */
export function resolveRunId(env: NodeJS.ProcessEnv, ctx: RunIdContext): string {
  const given = env[RUN_ID_ENV];
  if (given !== undefined && given !== "") {
    if (!RUN_ID.test(given)) throw new RollbackError("CONFIG_INVALID", RUN_ID_ENV, "must be 1-64 of letters, digits, . _ - (it names the run's timeline folder)");
    return given;
  }
  if (env.CI || env.GITHUB_ACTIONS) {
    throw new RollbackError("RUN_ID_MISSING", RUN_ID_ENV, "must be set in CI, once per workflow run", "env: ROLLBACK_RUN_ID: ${{ github.run_id }} (not run_attempt: a re-run attempt resumes the same run)");
  }
  const fresh = () => (ctx.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, "-");
  if (ctx.dryRun) {
    const id = fresh();
    mkdirSync(dirname(ctx.handOver), { recursive: true });
    writeFileSync(ctx.handOver, `${id}\n`);
    return id;
  }
  const handed = readHandOver(ctx.handOver);
  rmSync(ctx.handOver, { force: true });
  return handed ?? fresh();
}

function readHandOver(file: string): string | undefined {
  try {
    const id = readFileSync(file, "utf8").trim();
    return RUN_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
