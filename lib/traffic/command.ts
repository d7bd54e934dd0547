import { spawn } from "node:child_process";
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
  /** Aborting ends the command (and what it started), like the timeout; the result says "interrupted". */
  readonly signal?: AbortSignal;
}

const MAX_OUTPUT = 4 * 1024 * 1024;
/** After SIGTERM, how long a command's process group gets before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Runs argv without a shell; never throws: failure is a value the caller reports. The command
 * gets its own process group, so a timeout or an interrupt ends it AND whatever it started
 * (`sh -c '…'` leaves its children running when only the shell is signalled).
 */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    const out = { stdout: "", stderr: "" };
    let error: string | undefined;
    let settled = false;
    const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    let grace: NodeJS.Timeout | undefined;
    const end = (why: string) => {
      error ??= why;
      killGroup("SIGTERM");
      grace ??= setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => end(`${argv[0]}: killed after ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => end(`${argv[0]}: interrupted`);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    for (const key of ["stdout", "stderr"] as const) {
      child[key].setEncoding("utf8");
      child[key].on("data", (c: string) => {
        if (out[key].length < MAX_OUTPUT) out[key] += c;
      });
    }
    const finish = (exitCode: number | null, signal: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      opts.signal?.removeEventListener("abort", onAbort);
      const ok = exitCode === 0 && error === undefined;
      resolve({ argv, ok, exitCode, signal, ...out, durationMs: Date.now() - started, ...(error ? { error } : {}) });
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      error ??= e.code === "ENOENT" ? `${argv[0]}: command not found` : `${argv[0]}: ${e.code ?? e.message}`;
      if (!child.pid) finish(null, null);
    });
    child.on("close", (code, signal) => finish(code, signal));
  });
}

/** One line saying how a command ended, for stderr and error messages. */
export function describeResult(r: CommandResult): string {
  const how = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`);
  const out = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ");
  return `${r.argv.join(" ")}: ${how}${out ? `: ${out}` : ""}`;
}
