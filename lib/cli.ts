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

/**
 * Parses a number flag within [min, max]; the error names the flag and the range, so
 * `--min-disk-free-pct 200` or `--timeout -5` is refused instead of meaning something odd.
 */
export function numberFlag(value: string | undefined, flag: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RollbackError("ARGS_INVALID", `--${flag}`, `expected a number ${range}, got "${value}"`);
  }
  return n;
}

/** Splits a comma-separated list flag, dropping empty items. */
export function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Exit code of a run ended by a signal, as shells report it: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : EXIT.error;
}

/**
 * An AbortSignal that the first SIGINT or SIGTERM aborts, its reason the signal's name. The
 * handlers replace node's default (die at once), so the tool can finish or put things back;
 * later signals are acknowledged on stderr, not obeyed, for the same reason (kill -9 remains).
 */
export function interruptSignal(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`), doing = "putting things back"): AbortSignal {
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (controller.signal.aborted) say(`${sig} again: still ${doing}, please wait`);
      else {
        say(`${sig}: stopping; ${doing}`);
        controller.abort(sig);
      }
    });
  }
  return controller.signal;
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
