import { BUILD_DIR } from "../lib/config/project";
import { STEPS, type StepId } from "../lib/runbook";

/**
 * Command lines for runbook steps, as pure functions. They never contain a secret: secrets
 * reach scripts through `environment` only, because @pulumi/command prints the full command
 * string when a command fails, whatever `logging` says (see NOTES.md).
 */

/** Quotes one word for /bin/sh (what @pulumi/command runs `create` with, locally and over SSH). */
export function shellQuote(word: string | number): string {
  const s = String(word);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(words: readonly (string | number)[]): string {
  return words.map(shellQuote).join(" ");
}

/** Where one run of the runbook runs and writes its timeline and report (one folder per run id). */
export interface RunContext {
  /** Changes on every `pulumi up` unless pinned: the per-run trigger of every runbook command. */
  readonly runId: string;
  /** The project root on the runner: every local command runs there (its `dir`). */
  readonly projectDir: string;
  /** Relative to the project root (`.rollback/<runId>/...`), on the runner and over SSH alike. */
  readonly timelineFile: string;
  readonly reportDir: string;
}

export function runContext(projectDir: string, timelineDir: string, runId: string): RunContext {
  return { runId, projectDir, timelineFile: `${timelineDir}/${runId}/timeline.jsonl`, reportDir: `${timelineDir}/${runId}` };
}

/** The script a step runs, from lib/runbook.ts (the one place the runbook is defined). */
export function scriptOf(step: StepId): string {
  const script = STEPS.find((s) => s.id === step)?.script;
  if (!script) throw new Error(`runbook step ${step} has no script`);
  return script;
}

/**
 * How a step starts a script: node on its compiled copy, `dist/scripts/x.js` (`npm run build`;
 * lib/config/project.ts refuses a stale one). Not tsx: it is a devDependency, so a runner
 * installed with `npm ci --omit=dev` has none, and `npx tsx` also starts npm and a second node
 * process (~0.7 s more per script, twice per step, all of it inside the downtime).
 */
export function runScript(script: string): string[] {
  return ["node", `${BUILD_DIR}/${script.replace(/\.ts$/, ".js")}`];
}

/**
 * `node dist/scripts/report.js`: the run's timeline → timeline.json + report.md in the run's folder.
 * Not wrapped in step.ts: the report reads the timeline, it is not a timed step of it.
 */
export function reportCommandLine(run: RunContext): string {
  return shellJoin([...runScript(scriptOf("report")), "--timeline", run.timelineFile, "--out", run.reportDir, "--json"]);
}

/**
 * `node dist/scripts/step.js <step> --timeline F --log L -- node dist/scripts/<script>.js <args>`: step.ts
 * times the step against its phase budget and appends it to the run's timeline (contracts.md).
 * `okCodes`: exit codes that still count as success, e.g. 1 from the pre-sync diff, where
 * "differences found" is the expected answer and only 2 (error) must stop `pulumi up`.
 */
export function stepCommandLine(step: StepId, run: RunContext, args: readonly (string | number)[], okCodes?: readonly number[]): string {
  // --log: the script's output goes to a file in the run's folder and step.ts prints one line,
  // since a failing @pulumi/command puts all of its stdout and stderr into the engine's error.
  const own = [...(okCodes ? ["--ok-codes", okCodes.join(",")] : []), "--log", `${run.reportDir}/${step}.log`];
  return shellJoin([...runScript("scripts/step.ts"), step, "--timeline", run.timelineFile, ...own, "--", ...runScript(scriptOf(step)), ...args]);
}
