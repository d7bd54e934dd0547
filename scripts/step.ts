import { EXIT, listFlag, parseCli, runMain } from "../lib/cli";
import { RollbackError } from "../lib/errors";
import { runStep, stepPhase, timelinePath } from "../lib/timeline";

const USAGE = `usage: npx tsx scripts/step.ts <step-id> [--timeline FILE] [--ok-codes 0,1] -- <command...>

Runs one runbook step's command (secrets only through the inherited environment), streams its
stderr, passes its stdout (the step's --json report) through, and appends one JSON line
{step, phase, startedAt, durationMs, budgetMs, status, exitCode, report} to the timeline
(--timeline, else env ROLLBACK_TIMELINE, else .rollback/timeline.jsonl).
Exits with the command's exit code; codes listed in --ok-codes count as success and exit 0.`;

async function main(argv: string[]): Promise<number> {
  const split = argv.indexOf("--");
  const own = split < 0 ? argv : argv.slice(0, split);
  if (own.includes("--help")) {
    process.stderr.write(USAGE + "\n");
    return EXIT.ok;
  }
  const { values, positionals } = parseCli(own, { timeline: { type: "string" }, "ok-codes": { type: "string" }, help: { type: "boolean" } }, true);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (positionals.length !== 1) throw new RollbackError("ARGS_INVALID", "step-id", "give exactly one step id before --", USAGE.split("\n")[0]);
  if (command.length === 0) throw new RollbackError("ARGS_INVALID", "command", "no command after --", USAGE.split("\n")[0]);
  const step = positionals[0];
  stepPhase(step); // refuses an unknown step before anything runs
  const okCodes = (listFlag(values["ok-codes"]) ?? ["0"]).map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RollbackError("ARGS_INVALID", "--ok-codes", `"${c}" is not an exit code`);
    return n;
  });
  const { entry } = await runStep({ step, command, timeline: timelinePath(values.timeline), okCodes, echoStdout: true });
  process.stderr.write(`step ${step}: ${entry.status} (exit ${entry.exitCode}) in ${entry.durationMs} ms\n`);
  if (entry.status === "ok") return EXIT.ok;
  return entry.exitCode ?? EXIT.error;
}

runMain(main);
