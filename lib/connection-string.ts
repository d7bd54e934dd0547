import { formatDsn } from "./dsn";

/**
 * The value the app reads from its connection secret, as a pure function. The Pulumi
 * ConnectionSecret component calls it inside `apply` on secret inputs only, so the
 * result is a secret Output and never plain text in state, outputs or logs.
 */
export type ConnectionFormat = "json" | "url";

export interface DbEndpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
}

/** Extra settings the app reads next to the endpoint (pool size, timeouts: R3 "pool settings"). */
export type ConnectionExtras = Readonly<Record<string, string | number | boolean>>;

/**
 * `json` is the shape RDS-managed and rotation-lambda secrets use (engine, host, port,
 * username, password, dbname), so apps written against RDS keep working when the secret
 * points at IDC; `url` is `mysql://user:pass@host:port/db` with the extras as query parameters.
 */
export function connectionValue(format: ConnectionFormat, endpoint: DbEndpoint, password: string, extras: ConnectionExtras = {}): string {
  if (format === "json") {
    return JSON.stringify({
      engine: "mysql",
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      password,
      dbname: endpoint.database,
      ...extras,
    });
  }
  const url = formatDsn({ ...endpoint, password });
  const query = new URLSearchParams(Object.entries(extras).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return query ? `${url}?${query}` : url;
}
