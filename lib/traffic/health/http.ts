import { RollbackError, messageOf } from "../../errors";
import { CheckResult, timed } from "./check";

export interface HttpCheckOptions {
  readonly url: string;
  /** Exact status expected; by default any 2xx passes. */
  readonly expectStatus?: number;
  /** A substring the body must contain. */
  readonly expectBody?: string;
  readonly maxLatencyMs?: number;
}

/** Checks `url` is http(s) before anything runs; the error names the flag. */
export function parseHttpUrl(text: string, subject = "--http"): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RollbackError("ARGS_INVALID", subject, `"${redactUrl(text)}" is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new RollbackError("ARGS_INVALID", subject, `scheme must be http or https (got ${u.protocol})`);
  }
  return text;
}

/** The URL without user:password, for reports. */
export function redactUrl(text: string): string {
  try {
    const u = new URL(text);
    if (!u.username && !u.password) return text;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return text.replace(/\/\/[^/@]*@/, "//");
  }
}

const BODY_EVIDENCE = 200;

/** fetch refuses URLs with user:password (WHATWG fetch); send them as a Basic Authorization header instead. */
function basicAuth(text: string): { url: string; headers: Record<string, string> } {
  const u = new URL(text);
  if (!u.username && !u.password) return { url: text, headers: {} };
  const credentials = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = "";
  u.password = "";
  return { url: u.toString(), headers: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` } };
}

/**
 * One GET: status, latency to the last body byte, expected text. Redirects are not followed: a
 * health endpoint that redirects (to a login page, say) is not the endpoint that was asked for.
 */
export function checkHttp(opts: HttpCheckOptions): Promise<CheckResult> {
  return timed("http", redactUrl(opts.url), async () => {
    const timeoutMs = Math.max(10_000, (opts.maxLatencyMs ?? 0) * 2);
    const started = performance.now();
    const { url, headers } = basicAuth(opts.url);
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, { headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
      body = await res.text();
    } catch (e) {
      // undici says only "fetch failed"; the reason (ECONNREFUSED, a TLS error, DNS) is its cause.
      const cause = (e as { cause?: unknown }).cause;
      throw new Error(cause ? `${messageOf(e)}: ${messageOf(cause)}` : messageOf(e));
    }
    const latencyMs = Math.round(performance.now() - started);
    const statusOk = opts.expectStatus !== undefined ? res.status === opts.expectStatus : res.status >= 200 && res.status < 300;
    const bodyOk = opts.expectBody === undefined || body.includes(opts.expectBody);
    const problems = [
      statusOk ? "" : `status ${res.status}, expected ${opts.expectStatus ?? "2xx"}`,
      bodyOk ? "" : `body does not contain "${opts.expectBody}"`,
      opts.maxLatencyMs !== undefined && latencyMs > opts.maxLatencyMs ? `latency ${latencyMs} ms exceeds ${opts.maxLatencyMs} ms` : "",
    ].filter(Boolean);
    return {
      evidence: { status: res.status, latencyMs, bodyPrefix: body.slice(0, BODY_EVIDENCE), bodyBytes: Buffer.byteLength(body) },
      problems,
    };
  });
}
