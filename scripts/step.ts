import { appendFileSync, mkdirSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { EXIT, interruptSignal, listFlag, parseCli, runMain, signalExitCode } from "../lib/cli";
import { RollbackError } from "../lib/errors";
import { Notifier, notifierFromEnv } from "../lib/notify";
import { redact, secretValues } from "../lib/report/redact";
import { PHASES, STEPS } from "../lib/runbook";
import { prepareTimeline, readTimeline, runStep, stepPhase, timelinePath } from "../lib/timeline";

const USAGE = `usage: npx tsx scripts/step.ts <step-id> [--timeline FILE] [--ok-codes 0,1] [--log FILE] -- <command...>

Runs one runbook step's command (secrets only through the inherited environment), streams its
stderr, passes its stdout (the step's --json report) through, and appends one JSON line
{step, phase, startedAt, durationMs, budgetMs, status, exitCode, report} to the timeline
(--timeline, else env ROLLBACK_TIMELINE, else .rollback/timeline.jsonl).
Exits with the command's exit code; codes listed in --ok-codes count as success and exit 0.
--log FILE: the command's stderr and stdout go to FILE (appended, secrets from the environment
redacted) instead, and step.ts prints one summary line on stdout. The runbook's commands use it:
a failing @pulumi/command puts all of its output into the engine's error message.
With env ROLLBACK_WEBHOOK_URL (a secret), notifies a Slack-compatible webhook: the run's start
(with ROLLBACK_CONTACTS), each new phase, progress every ROLLBACK_PROGRESS_EVERY_MIN (30) minutes
while a step runs, and a failed step. A failed delivery is logged; the step runs regardless.
A timeline path that cannot be appended to (a directory, not a timeline) is refused before the
step runs. SIGINT/SIGTERM are passed to the step's command, which is waited for (it puts back
what it must); the step is recorded as interrupted and the exit is 130/143.`;

async function main(argv: string[]): Promise<number> {
  const split = argv.indexOf("--");
  const own = split < 0 ? argv : argv.slice(0, split);
  if (own.includes("--help")) {
    process.stderr.write(USAGE + "\n");
    return EXIT.ok;
  }
  const { values, positionals } = parseCli(own, { timeline: { type: "string" }, "ok-codes": { type: "string" }, log: { type: "string" }, help: { type: "boolean" } }, true);
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
  const file = timelinePath(values.timeline);
  await prepareTimeline(file);
  const notifier = await announce(step, file);
  const signal = interruptSignal((line) => process.stderr.write(`step ${step}: ${line}\n`), "waiting for the step, which got the signal");
  const log = values.log ? logTo(values.log) : undefined;
  const { entry, stdout } = await runStep({ step, command, timeline: file, okCodes, echoStdout: !log, onStderr: log, signal });
  const summary = `step ${step}: ${entry.status} (exit ${entry.exitCode}) in ${entry.durationMs} ms`;
  if (log) {
    log(stdout);
    process.stdout.write(`${summary}; details in ${values.log}, report in ${file}\n`);
  } else {
    process.stderr.write(`${summary}\n`);
  }
  if (notifier) {
    notifier.stop();
    if (entry.status !== "ok") notifier.phase([`Step ${step} ${entry.status.toUpperCase()} (exit ${entry.exitCode}): the runbook stops here`]);
    await notifier.flush();
  }
  if (entry.status === "ok") return EXIT.ok;
  if (entry.status === "interrupted") return signalExitCode(signal.reason as NodeJS.Signals);
  return entry.exitCode ?? EXIT.error;
}

/** An appender to the step's log file, redacting the secrets this process was given. */
function logTo(path: string): (text: string) => void {
  mkdirSync(dirname(path), { recursive: true });
  const secrets = secretValues();
  return (text) => appendFileSync(path, redact(text, secrets));
}

/**
 * Notifications (R9) for a real run, when ROLLBACK_WEBHOOK_URL is set: the run's first step
 * announces the start (with the contacts), the first step of each phase the phase, and every
 * step sends progress every ROLLBACK_PROGRESS_EVERY_MIN minutes while it runs. A failed
 * delivery is logged; the step runs regardless.
 */
async function announce(step: string, file: string): Promise<Notifier | undefined> {
  const phase = PHASES.find((p) => p.id === stepPhase(step).phase)!;
  const notifier = notifierFromEnv(`Rollback run ${basename(dirname(resolve(file)))}`, () => ({ phase: phase.title, step }));
  if (!notifier) return undefined;
  const earlier = (await readTimeline(file).catch(() => [])).filter((e) => STEPS.some((s) => s.id === e.step));
  if (earlier.length === 0) {
    notifier.start([`Runbook started: ${step} (${phase.title})`, `Plan: ${PHASES.map((p) => `${p.title} ${p.startsAtMin}-${p.endsAtMin} min`).join(", ")}`]);
  } else {
    if (earlier.at(-1)!.phase !== phase.id) notifier.phase([`Phase: ${phase.title} (budget ${phase.endsAtMin - phase.startsAtMin} min), first step ${step}`]);
    notifier.watch();
  }
  return notifier;
}

runMain(main);
