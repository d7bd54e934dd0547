import { parseArgs, ParseArgsConfig } from "node:util";
import { RollbackError, isRollbackError, messageOf } from "./errors";

/** Exit codes shared by every script: 0 ok, 1 the check found a problem, 2 the tool could not do its job. */
export const EXIT = { ok: 0, failed: 1, error: 2 } as const;

/**
 * Parses argv with node's own parseArgs (strict: an unknown flag is an error that names it).
 */
export function parseCli<T extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new RollbackError("ARGS_INVALID", "argv", messageOf(e), "run with --help");
  }
}

/** Parses a non-negative number flag; the error names the flag. */
export function numberFlag(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    throw new RollbackError("ARGS_INVALID", `--${flag}`, `expected a number >= ${min}, got "${value}"`);
  }
  return n;
}

/** Splits a comma-separated list flag, dropping empty items. */
export function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/**
 * Runs a script's main function: its resolved number is the exit code; a thrown error is
 * printed as one line on stderr (and as JSON on stdout with --json) and exits 2.
 */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  const argv = process.argv.slice(2);
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      const err = isRollbackError(e) ? e : new RollbackError("UNEXPECTED", "run", messageOf(e));
      process.stderr.write(`error: ${err.message}\n`);
      if (argv.includes("--json")) process.stdout.write(JSON.stringify({ ok: false, error: err.toJSON() }) + "\n");
      process.exitCode = EXIT.error;
    },
  );
}
