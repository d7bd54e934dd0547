/**
 * Errors are values: a stable code, the thing that is wrong, and what to do about it.
 * Scripts print `message` and exit 2; reports carry `code` and `subject` as data.
 */
export class RollbackError extends Error {
  constructor(
    /** Stable machine-readable code, e.g. `CONFIG_INVALID`, `TABLE_NO_KEY`. */
    readonly code: string,
    /** The offending key, file, table or host, exactly as the user wrote it. */
    readonly subject: string,
    /** What is wrong. */
    readonly problem: string,
    /** What to do about it. */
    readonly hint?: string,
  ) {
    super(formatError(code, subject, problem, hint));
    this.name = "RollbackError";
  }

  toJSON(): Record<string, string | undefined> {
    return { code: this.code, subject: this.subject, problem: this.problem, hint: this.hint };
  }
}

/** The one-line form of an error: `CODE: subject: problem (hint)`. */
export function formatError(code: string, subject: string, problem: string, hint?: string): string {
  return `${code}: ${subject}: ${problem}${hint ? ` (${hint})` : ""}`;
}

export function isRollbackError(e: unknown): e is RollbackError {
  return e instanceof RollbackError;
}

/** The message of anything thrown, without a stack; secrets are scrubbed by the caller. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
