import { RollbackError } from "../errors";

/** The environment variable CI sets so that `preview --save-plan` and `up --plan` agree on the run. */
const RUN_ID_ENV = "ROLLBACK_RUN_ID";

/**
 * The id of this run of the runbook. Every runbook command has it as a trigger, so a new id
 * makes `pulumi up` run the whole runbook again, sync and verify included; preview shows each
 * command as a replacement (`+-`, triggers changed). Unset, it is the time of this program
 * run, so every `up` is a new run. It is not stack config on purpose: `pulumi up -c` would
 * write it into the stack file, pinning it, and a pinned id means the next `up` re-verifies
 * nothing. With a saved plan, preview and up must see the same id: CI exports it once.
 */
export function resolveRunId(env: NodeJS.ProcessEnv = process.env, now: () => Date = () => new Date()): string {
  const given = env[RUN_ID_ENV];
  if (given === undefined || given === "") return now().toISOString().replace(/[:.]/g, "-");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(given)) {
    throw new RollbackError("CONFIG_INVALID", RUN_ID_ENV, "must be 1-64 of letters, digits, . _ - (it names the run's timeline folder)");
  }
  return given;
}
