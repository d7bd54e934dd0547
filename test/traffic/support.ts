import { ChildProcess, execFile, spawn } from "node:child_process";
import { Agent, IncomingHttpHeaders, createServer, request } from "node:http";
import { AddressInfo } from "node:net";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed, when the script printed JSON. */
  readonly json: any;
}

/**
 * Runs `scripts/<name>.ts args…` from the repo root as `npx tsx` does, with tsx's loader in one
 * node process (the tsx CLI would start a second one: a second lost on a loaded 2-core machine).
 */
export function runScript(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join("scripts", `${name}.ts`), ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** A script started in the background, for tests that signal it: `done` resolves when it exits. */
export interface RunningScript {
  readonly child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** Resolves once stderr matches `pattern` (rejects after timeoutMs, or when the script exits first). */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly done: Promise<ScriptRun & { readonly signal: NodeJS.Signals | null }>;
}

export function startScript(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningScript {
  const child = spawn(process.execPath, ["--import", "tsx", join("scripts", `${name}.ts`), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<ScriptRun & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, signal, stdout, stderr, json });
    }),
  );
  let exited = false;
  void done.then(() => (exited = true));
  return {
    child,
    stderr: () => stderr,
    done,
    async waitForStderr(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stderr)) {
        if (exited) throw new Error(`the script exited before printing ${pattern}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** Whether a process exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Backend {
  readonly label: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A tiny app server answering `backend <label>` with header `X-Backend: <label>` (what nginx proxies to). */
export async function startBackend(label: string): Promise<Backend> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "text/plain");
      res.setHeader("x-backend", label);
      res.end(`backend ${label}\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    label,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An error from httpRequest: `reusedSocket` says whether it happened on a kept-alive connection. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly reusedSocket: boolean,
  ) {
    super(message);
  }
}

/**
 * One HTTP request: keep-alive with an agent, otherwise a one-off connection. Not Node's global
 * agent: since Node 19 it keeps connections alive, and nginx closes idle kept-alive connections
 * when old workers exit after a reload, so a later request on one fails with "socket hang up".
 */
export function httpRequest(url: string, opts: { method?: string; agent?: Agent | false } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? "GET", agent: opts.agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error("timed out")));
    req.on("error", (e: NodeJS.ErrnoException) => reject(new RequestError(e.message, e.code, req.reusedSocket)));
    req.end();
  });
}

/**
 * A GET as HTTP/1.1 clients do it on keep-alive connections (RFC 9112 §9.3.1; Go's
 * http.Transport, browsers, and the pattern in Node's own `request.reusedSocket` docs): when
 * the server closed an idle kept-alive connection just as the request was sent (ECONNRESET on a
 * reused socket, nothing received), the request never reached the application, so an idempotent
 * request is sent once more, on a new connection. nginx closes idle keep-alive connections when
 * old workers shut down after a reload, so a client without this retry sees "socket hang up"
 * on roughly one request per reload and connection, whatever the proxy does.
 */
export async function keepAliveGet(url: string, agent: Agent): Promise<{ reply: Reply; retried: boolean }> {
  try {
    return { reply: await httpRequest(url, { agent }), retried: false };
  } catch (e) {
    if (!(e instanceof RequestError && e.reusedSocket && e.code === "ECONNRESET")) throw e;
    return { reply: await httpRequest(url, { agent: false }), retried: true };
  }
}
