import { spawn, ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runCommand } from "../traffic/command";
import { exists, killGroup, stopChild } from "./process";

/**
 * A throw-away nginx from the machine's own binary (Debian's nginx-light): its own prefix
 * directory under the temp dir holding nginx.conf, the pid file, error and access logs and
 * every temp path, so it never touches /etc/nginx, /var/log/nginx or /run. It listens only where
 * the caller's config says (use loopback ports from lib/sandbox/free-port.ts). Tests and the
 * drill use it in front of local backends.
 *
 *   const port = await freePort();
 *   const nginx = await startNginx((prefix) => ({
 *     files: { "upstream.conf": renderUpstream(...) },
 *     http: `include ${prefix}/upstream.conf;
 *            server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`,
 *   }));
 *   // switch-upstream.ts --file nginx.path("upstream.conf") --test-cmd nginx.testCommand --reload-cmd nginx.reloadCommand
 *   await nginx.stop();
 */
export interface NginxConfig {
  /** Directives inside `http { }`: upstream includes, server blocks. */
  readonly http?: string;
  /** Directives inside `stream { }` (TCP proxy, e.g. for MySQL); loads ngx_stream_module. */
  readonly stream?: string;
  /** Files to write under the prefix before nginx starts: relative path -> text. */
  readonly files?: Readonly<Record<string, string>>;
}

export interface NginxSandboxOptions {
  /** Label for the prefix directory name. */
  readonly name?: string;
  readonly workerProcesses?: number;
}

export interface NginxSandbox {
  /** The instance's own directory; nginx.conf, nginx.pid, error.log and access.log live here. */
  readonly prefix: string;
  readonly confPath: string;
  readonly errorLogPath: string;
  /** The master's pid. */
  readonly pid: number;
  /** Absolute path of a file under the prefix. */
  path(relative: string): string;
  /** argv of `nginx -t` for this instance. */
  readonly testArgv: readonly string[];
  /** argv of `nginx -s reload` for this instance. */
  readonly reloadArgv: readonly string[];
  /** testArgv as one string for `switch-upstream.ts --test-cmd` (lib/traffic/command.ts splits it). */
  readonly testCommand: string;
  /** reloadArgv as one string for `switch-upstream.ts --reload-cmd`. */
  readonly reloadCommand: string;
  /** Current size of error.log: pass it to waitForReload to wait for a reload signalled after this point. */
  logOffset(): Promise<number>;
  /**
   * Resolves when the master has started workers with a new configuration after `offset` and
   * the workers of every older configuration have stopped accepting connections;
   * rejects with nginx's own [emerg] line when it refused the new configuration (it then keeps
   * running the old one).
   */
  waitForReload(offset: number, timeoutMs?: number): Promise<void>;
  /**
   * Which worker generation serves (0 at start, +1 per configuration the master loaded) and
   * whether it is the only one accepting connections. A test that sees the same settled
   * generation before and after some requests knows they were all served by that configuration.
   */
  generation(): Promise<WorkerGeneration>;
  /** `nginx -s reload`, then waitForReload. */
  reload(): Promise<void>;
  /** Fast shutdown (SIGTERM to the master, SIGKILL to its process group after 5 s), then removes the prefix. */
  stop(): Promise<void>;
}

export interface WorkerGeneration {
  readonly generation: number;
  /** True when every worker of an older generation has stopped accepting (logged its graceful shutdown or exited). */
  readonly settled: boolean;
}

/**
 * Reads worker generations from the error log (notice level). On a reload the master logs
 * "reconfiguring", starts new workers ("start worker process PID"), then tells the old ones to
 * quit; until an old worker logs "gracefully shutting down" it still accepts new connections on
 * the shared listening socket, with the old configuration. Several reloads in a row may overlap.
 */
export function workerGenerations(log: string): WorkerGeneration {
  let gen = 0;
  const started = new Map<number, number>();
  const stopped = new Set<number>();
  for (const line of log.split("\n")) {
    if (/: reconfiguring$/.test(line)) gen++;
    const start = /: start worker process (\d+)$/.exec(line);
    if (start) started.set(Number(start[1]), gen);
    const quit = /\] (\d+)#\d+: gracefully shutting down$/.exec(line) ?? /: worker process (\d+) exited/.exec(line);
    if (quit) stopped.add(Number(quit[1]));
  }
  const newest = Math.max(0, ...started.values());
  return { generation: newest, settled: [...started].every(([pid, g]) => g === newest || stopped.has(pid)) };
}

const NGINX = process.env.NGINX ?? "/usr/sbin/nginx";
const STREAM_MODULE = process.env.NGINX_STREAM_MODULE ?? "/usr/lib/nginx/modules/ngx_stream_module.so";

export async function startNginx(
  config: (prefix: string) => NginxConfig | Promise<NginxConfig>,
  opts: NginxSandboxOptions = {},
): Promise<NginxSandbox> {
  const prefix = await mkdtemp(join(tmpdir(), `rollback-nginx-${opts.name ?? "sandbox"}-`));
  const path = (relative: string) => join(prefix, relative);
  const confPath = path("nginx.conf");
  const errorLogPath = path("error.log");
  const pidPath = path("nginx.pid");
  const { http, stream, files } = await config(prefix);

  for (const [rel, text] of Object.entries(files ?? {})) {
    await mkdir(dirname(path(rel)), { recursive: true });
    await writeFile(path(rel), text);
  }
  await writeFile(confPath, mainConf(prefix, { http, stream }, opts.workerProcesses ?? 1));

  // -e: the error log nginx uses before it has read the config (Debian's build says stderr; others /var/log).
  const base = [NGINX, "-p", prefix + "/", "-c", confPath, "-e", errorLogPath];
  const testArgv = [...base, "-t", "-q"];
  const reloadArgv = [...base, "-s", "reload"];

  const child: ChildProcess = spawn(base[0], base.slice(1), { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr.trim() || (await tail(errorLogPath))}`);
      return exists(pidPath);
    }, 10_000, "nginx did not write its pid file");
  } catch (e) {
    killGroup(child, "SIGKILL");
    await rm(prefix, { recursive: true, force: true });
    throw e;
  }

  async function logOffset(): Promise<number> {
    return (await stat(errorLogPath).catch(() => ({ size: 0 }))).size;
  }

  async function generation(): Promise<WorkerGeneration> {
    return workerGenerations((await readFile(errorLogPath)).toString());
  }

  async function waitForReload(offset: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(async () => {
      const whole = await readFile(errorLogPath);
      const since = whole.subarray(offset).toString();
      const emerg = /\[emerg\][^\n]*/.exec(since);
      if (emerg) throw new Error(`nginx refused the new configuration: ${emerg[0]}`);
      if (!/: reconfiguring\n[\s\S]*: start worker process \d+/.test(since)) return false;
      return workerGenerations(whole.toString()).settled;
    }, timeoutMs, `nginx did not reload within ${timeoutMs} ms; see ${errorLogPath}`);
  }

  return {
    prefix,
    confPath,
    errorLogPath,
    pid: child.pid ?? -1,
    path,
    testArgv,
    reloadArgv,
    testCommand: testArgv.map(quote).join(" "),
    reloadCommand: reloadArgv.map(quote).join(" "),
    logOffset,
    waitForReload,
    generation,
    async reload() {
      const offset = await logOffset();
      const r = await runCommand(reloadArgv);
      if (!r.ok) throw new Error(`nginx -s reload failed: ${r.stderr.trim() || r.error}`);
      await waitForReload(offset);
    },
    async stop() {
      await stopChild(child, () => child.kill("SIGTERM"));
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

/**
 * The main config. `user root;` only when we are root: the master then runs workers as root so
 * they can read the prefix under /tmp (nginx's default is `nobody`); as another user the directive
 * would only draw a warning. `daemon off` keeps the master our child, so stop() can reach it.
 */
function mainConf(prefix: string, blocks: { http?: string; stream?: string }, workers: number): string {
  const p = (rel: string) => join(prefix, rel);
  return [
    "# Generated by lib/sandbox/nginx.ts for a throw-away instance.",
    blocks.stream !== undefined ? `load_module ${STREAM_MODULE};` : "",
    process.getuid?.() === 0 ? "user root;" : "",
    "daemon off;",
    `worker_processes ${workers};`,
    `pid ${p("nginx.pid")};`,
    // notice: the reload lines waitForReload looks for are logged at that level.
    `error_log ${p("error.log")} notice;`,
    "events { worker_connections 512; }",
    "http {",
    `  access_log ${p("access.log")};`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${p(`${t}_temp`)};`),
    indent(blocks.http ?? ""),
    "}",
    blocks.stream !== undefined ? ["stream {", indent(blocks.stream), "}"].join("\n") : "",
    "",
  ]
    .filter((line) => line !== "")
    .join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => (l.trim() ? `  ${l}` : l))
    .join("\n");
}

/** Single-quotes a word for lib/traffic/command.ts splitCommand when it holds anything but safe characters. */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-3).join(" | ");
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 25));
  }
}
