import { RollbackError } from "./errors";

/**
 * What the Nginx upstream says, as a pure function: the Pulumi component renders it for
 * preview and triggers, scripts/switch-upstream.ts writes it to the nginx host.
 */
export type UpstreamKind = "http" | "stream";

export interface UpstreamServer {
  readonly host: string;
  readonly port: number;
  /** nginx `weight=` (1..) */
  readonly weight?: number;
  /** nginx `max_fails=`; nginx's default is 1. */
  readonly maxFails?: number;
  /** nginx `fail_timeout=` in seconds; nginx's default is 10 s. */
  readonly failTimeoutS?: number;
  /** Passive failover target only (open-source nginx has no active health_check). */
  readonly backup?: boolean;
}

export interface Upstream {
  readonly name: string;
  readonly kind: UpstreamKind;
  readonly servers: readonly UpstreamServer[];
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const HOST = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\d{1,3}(\.\d{1,3}){3}$|^\[[0-9A-Fa-f:.]+\]$/;

/** Parses `host:port` (IPv6 as `[::1]:port`); the error names `subject`. */
export function parseHostPort(text: string, subject: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new RollbackError("HOSTPORT_INVALID", subject, `"${text}" is not host:port`);
  const host = m[1];
  const port = Number(m[2]);
  if (!HOST.test(host)) throw new RollbackError("HOSTPORT_INVALID", subject, `"${host}" is not a valid host name or address`);
  if (port < 1 || port > 65535) throw new RollbackError("HOSTPORT_INVALID", subject, `port ${port} is outside 1-65535`);
  return { host, port };
}

/** Validates an upstream before anything is written; every error names what is wrong. */
export function validateUpstream(u: Upstream): void {
  if (!NAME.test(u.name)) throw new RollbackError("UPSTREAM_INVALID", "name", `"${u.name}" is not a valid upstream name`);
  if (u.kind !== "http" && u.kind !== "stream") {
    throw new RollbackError("UPSTREAM_INVALID", "kind", `"${String(u.kind)}" is not http or stream`);
  }
  if (u.servers.length === 0) throw new RollbackError("UPSTREAM_INVALID", "servers", "the server list is empty");
  if (u.servers.every((s) => s.backup)) {
    throw new RollbackError("UPSTREAM_INVALID", "servers", "every server is a backup; at least one must be primary");
  }
  u.servers.forEach((s, i) => {
    const where = `servers[${i}]`;
    parseHostPort(`${s.host}:${s.port}`, where);
    if (s.weight !== undefined && (!Number.isInteger(s.weight) || s.weight < 1)) {
      throw new RollbackError("UPSTREAM_INVALID", `${where}.weight`, "must be an integer >= 1");
    }
    if (s.maxFails !== undefined && (!Number.isInteger(s.maxFails) || s.maxFails < 0)) {
      throw new RollbackError("UPSTREAM_INVALID", `${where}.maxFails`, "must be an integer >= 0");
    }
    if (s.failTimeoutS !== undefined && (!Number.isInteger(s.failTimeoutS) || s.failTimeoutS < 1)) {
      throw new RollbackError("UPSTREAM_INVALID", `${where}.failTimeoutS`, "must be an integer >= 1 (seconds)");
    }
  });
}

/** Renders the upstream block. Deterministic: the same input gives the same text (it is a trigger). */
export function renderUpstream(u: Upstream): string {
  validateUpstream(u);
  const lines = u.servers.map((s) => `    server ${formatServer(s)};`);
  return [
    `# Managed by the rollback stack (${u.kind} upstream); rewritten on every switch.`,
    `upstream ${u.name} {`,
    ...lines,
    "}",
    "",
  ].join("\n");
}

/**
 * Parses the `--servers` syntax: servers separated by commas, each `host:port` followed by
 * nginx-style parameters separated by spaces, e.g. `10.0.0.5:3306 weight=2, 10.0.0.6:3306 backup`.
 * Accepts `weight=N`, `max_fails=N`, `fail_timeout=N` or `Ns`, and `backup`. Every error names
 * the item (`--servers[1]`) and the offending word, and nothing is half-parsed.
 */
export function parseServerList(text: string, subject = "--servers"): UpstreamServer[] {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new RollbackError("UPSTREAM_INVALID", subject, "the server list is empty", "give host:port[,host:port...]");
  const seen = new Set<string>();
  return items.map((item, i) => {
    const where = `${subject}[${i}]`;
    const [address, ...params] = item.split(/\s+/);
    const { host, port } = parseHostPort(address, where);
    const key = `${host.toLowerCase()}:${port}`;
    if (seen.has(key)) throw new RollbackError("UPSTREAM_INVALID", where, `${key} is listed twice`);
    seen.add(key);
    const server: { -readonly [K in keyof UpstreamServer]: UpstreamServer[K] } = { host, port };
    for (const p of params) {
      const m = /^(weight|max_fails|fail_timeout)=(\d+)(s?)$/.exec(p);
      if (p === "backup") server.backup = true;
      else if (m && (m[3] === "" || m[1] === "fail_timeout")) {
        const n = Number(m[2]);
        if (m[1] === "weight") server.weight = n;
        else if (m[1] === "max_fails") server.maxFails = n;
        else server.failTimeoutS = n;
      } else {
        throw new RollbackError(
          "UPSTREAM_INVALID",
          where,
          `"${p}" is not a server parameter`,
          "use weight=N, max_fails=N, fail_timeout=N[s] or backup",
        );
      }
    }
    return server;
  });
}

/** One server as nginx writes it after `server`: `h:p weight=2 max_fails=3 fail_timeout=10s backup`. */
export function formatServer(s: UpstreamServer): string {
  const params = [
    s.weight !== undefined ? `weight=${s.weight}` : "",
    s.maxFails !== undefined ? `max_fails=${s.maxFails}` : "",
    s.failTimeoutS !== undefined ? `fail_timeout=${s.failTimeoutS}s` : "",
    s.backup ? "backup" : "",
  ].filter(Boolean);
  return `${s.host}:${s.port}${params.length ? " " + params.join(" ") : ""}`;
}

/** The inverse of parseServerList, for logs and reports: `h:p weight=2 backup, h:p`. */
export function formatServerList(servers: readonly UpstreamServer[]): string {
  return servers.map(formatServer).join(", ");
}
