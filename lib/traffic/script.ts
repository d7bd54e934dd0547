/** Shared by the traffic scripts: required flags, human lines, the one JSON document, --help. */
import { EXIT } from "../cli";
import { RollbackError } from "../errors";

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === "") throw new RollbackError("ARGS_MISSING", `--${flag}`, "is required", "run with --help");
  return value;
}

/** Human lines go to stderr, always: stdout is kept for the --json report. */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Prints the report as one JSON document on stdout when --json was given. */
export function emit(json: boolean | undefined, report: unknown): void {
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

export function usage(text: string): number {
  process.stdout.write(text.replace(/^\n/, ""));
  return EXIT.ok;
}
