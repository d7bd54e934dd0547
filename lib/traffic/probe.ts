import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { RollbackError, messageOf } from "../errors";
import { connect } from "../mysql";
import { type UpstreamServer, parseHostPort } from "../nginx-upstream";

/**
 * Proof that a switched upstream answers through nginx: a request through the real path must
 * reach a server of the new set. An exit code of `nginx -s reload` proves nothing about where
 * traffic goes (a file nginx never includes reloads fine).
 */
export type Probe =
  /** `http`: GET `url` through nginx; the answer must carry what the new backends return. */
  | { readonly kind: "http"; readonly url: string; readonly expect: Expectation }
  /**
   * `stream` (nginx in front of MySQL): a connection through nginx's `listen` address must land
   * on a primary server of the new set, told apart by what the server says it is.
   */
  | { readonly kind: "mysql"; readonly listen: { readonly host: string; readonly port: number }; readonly user: string; readonly password: string };

export type Expectation =
  | { readonly type: "header"; readonly name: string; readonly value: string }
  | { readonly type: "body"; readonly text: string };

/** Parses `--probe-expect`: `header:NAME=VALUE` or `body:TEXT` (the body must contain TEXT). */
export function parseExpectation(text: string, subject = "--probe-expect"): Expectation {
  const header = /^header:([A-Za-z0-9!#$%&'*+.^_`|~-]+)=(.*)$/.exec(text);
  if (header) return { type: "header", name: header[1].toLowerCase(), value: header[2] };
  if (text.startsWith("body:") && text.length > "body:".length) return { type: "body", text: text.slice("body:".length) };
  throw new RollbackError("ARGS_INVALID", subject, `"${text}" is not header:NAME=VALUE or body:TEXT`, "e.g. --probe-expect header:X-Backend=idc");
}

export function describeExpectation(e: Expectation): string {
  return e.type === "header" ? `header ${e.name}: ${e.value}` : `a body containing ${JSON.stringify(e.text)}`;
}

/** Parses `--probe-url`: an absolute http(s) URL. */
export function parseProbeUrl(text: string, subject = "--probe-url"): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RollbackError("ARGS_INVALID", subject, `"${text}" is not a URL`, "e.g. http://127.0.0.1/whoami");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new RollbackError("ARGS_INVALID", subject, `"${text}" is not http or https`);
  return u.toString();
}

export function parseProbeListen(text: string, subject = "--probe-mysql"): { host: string; port: number } {
  return parseHostPort(text, subject);
}

export interface ProbeResult {
  readonly ok: boolean;
  /** What a pass required, in words. */
  readonly expected: string;
  readonly attempts: number;
  readonly durationMs: number;
  /** The last answer seen through nginx (or why there was none). */
  readonly lastAnswer: string;
}

export interface ProbeOptions {
  /** How long to keep trying: old workers accept with the old config for a moment after a reload. */
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Consecutive matching answers that count as proof (one could come from an old worker's last second). */
  readonly inARow?: number;
  readonly signal?: AbortSignal;
}

/**
 * Probes until `inARow` answers in a row come from the new set, or the time is up. The MySQL
 * probe first asks each primary of the new set directly who it is, then asks through nginx.
 */
export async function proveUpstream(probe: Probe, servers: readonly UpstreamServer[], opts: ProbeOptions): Promise<ProbeResult> {
  const started = Date.now();
  const inARow = opts.inARow ?? 3;
  let attempts = 0;
  let streak = 0;
  let expected: string;
  let ask: () => Promise<{ ok: boolean; answer: string }>;
  if (probe.kind === "http") {
    expected = `GET ${probe.url} answers with ${describeExpectation(probe.expect)}`;
    ask = async () => {
      const r = await httpGet(probe.url);
      const got = probe.expect.type === "header" ? r.headers[probe.expect.name] : r.body;
      const ok = probe.expect.type === "header" ? String(got ?? "") === probe.expect.value : r.body.includes(probe.expect.text);
      return { ok, answer: `status ${r.status}, ${probe.expect.type === "header" ? `${probe.expect.name}: ${got ?? "(absent)"}` : `body ${JSON.stringify(r.body.slice(0, 80))}`}` };
    };
  } else {
    const primaries = servers.filter((s) => !s.backup);
    const known = new Map<string, string>();
    for (const s of primaries) {
      const id = await serverIdentity({ ...probe, host: s.host, port: s.port }).catch((e) => `unreachable (${messageOf(e)})`);
      known.set(id, `${s.host}:${s.port}`);
    }
    expected = `a MySQL connection through ${probe.listen.host}:${probe.listen.port} lands on ${[...known].map(([id, s]) => `${s} (${id})`).join(" or ")}`;
    ask = async () => {
      const id = await serverIdentity({ ...probe, ...probe.listen });
      return { ok: known.has(id) && !id.startsWith("unreachable"), answer: id };
    };
  }
  let lastAnswer = "(none yet)";
  for (;;) {
    if (opts.signal?.aborted) break;
    attempts++;
    try {
      const r = await ask();
      lastAnswer = r.answer;
      streak = r.ok ? streak + 1 : 0;
    } catch (e) {
      lastAnswer = messageOf(e);
      streak = 0;
    }
    if (streak >= inARow) return { ok: true, expected, attempts, durationMs: Date.now() - started, lastAnswer };
    if (Date.now() - started >= opts.timeoutMs) break;
    await sleep(opts.intervalMs ?? 200, opts.signal);
  }
  return { ok: false, expected, attempts, durationMs: Date.now() - started, lastAnswer };
}

/**
 * Who a MySQL server says it is: `@@hostname:@@port server_id=N`, which both MySQL and MariaDB
 * answer (MariaDB has no @@server_uuid). Behind nginx the client sees nginx's address, so only
 * the server's own answer tells which backend took the connection.
 */
async function serverIdentity(d: { host: string; port: number; user: string; password: string }): Promise<string> {
  const c = await connect({ host: d.host, port: d.port, user: d.user, password: d.password, database: "" }, { connectTimeout: 2_000 });
  try {
    const [rows] = await c.query("SELECT @@hostname AS hostname, @@port AS port, @@server_id AS serverId");
    const r = (rows as { hostname: string; port: number | string; serverId: number | string }[])[0];
    return `${r.hostname}:${r.port} server_id=${r.serverId}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function httpGet(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    // agent: false, a new connection each time: a kept-alive one would stay with an old worker.
    const req = (url.startsWith("https:") ? httpsRequest : request)(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += body.length < 64 * 1024 ? c : ""));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.setTimeout(2_000, () => req.destroy(new Error("no answer within 2 s")));
    req.on("error", reject);
    req.end();
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      r();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
