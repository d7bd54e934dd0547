import { execFile } from "node:child_process";
import { RollbackError } from "../errors";

/**
 * Commands given as strings (`--test-cmd "nginx -t -c /etc/nginx/nginx.conf"`) run WITHOUT a
 * shell: they are split into argv here and executed directly. Quotes ('…' literal, "…" with \"
 * and \\ escapes) and backslash escapes group words; there is no expansion of any kind. An
 * unquoted shell operator (| & ; < > ( ) $ `) is refused rather than silently passed as an
 * argument, because whoever wrote it expected a shell: wrap it in `sh -c '…'` explicitly.
 */
export function splitCommand(text: string, subject: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= text.length) throw new RollbackError("COMMAND_INVALID", subject, "ends with a lone backslash");
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if ("|&;<>()$`".includes(c)) {
      throw new RollbackError(
        "COMMAND_INVALID",
        subject,
        `unquoted "${c}" at position ${i}: commands run without a shell`,
        "quote the character, or run a shell explicitly: sh -c '...'",
      );
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new RollbackError("COMMAND_INVALID", subject, `unterminated ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new RollbackError("COMMAND_INVALID", subject, "is empty");
  return words;
}

/** What a command did: enough evidence for a report (argv holds no secrets: they travel in env). */
export interface CommandResult {
  readonly argv: readonly string[];
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  /** Why it could not run at all (not found, timed out), when that happened. */
  readonly error?: string;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/** Runs argv without a shell; never throws: failure is a value the caller reports. */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      argv[0],
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: MAX_OUTPUT, env: opts.env ?? process.env, encoding: "utf8" },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown }) | null;
        const exitCode = e ? (typeof e.code === "number" ? e.code : null) : 0;
        const error =
          e && typeof e.code === "string"
            ? e.code === "ENOENT"
              ? `${argv[0]}: command not found`
              : `${argv[0]}: ${e.code}`
            : e?.killed
              ? `${argv[0]}: killed after ${opts.timeoutMs ?? 60_000} ms`
              : undefined;
        resolve({
          argv,
          ok: !e,
          exitCode,
          signal: e?.signal ?? null,
          stdout,
          stderr,
          durationMs: Date.now() - started,
          ...(error ? { error } : {}),
        });
      },
    );
  });
}

/** One line saying how a command ended, for stderr and error messages. */
export function describeResult(r: CommandResult): string {
  const how = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`);
  const out = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ");
  return `${r.argv.join(" ")}: ${how}${out ? `: ${out}` : ""}`;
}
