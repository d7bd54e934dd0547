import { readFile } from "node:fs/promises";
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import type { Pool, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { Dsn, describeDsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { pool as createPool } from "../mysql";

/**
 * The drill's demo application: a tiny shop API whose database connection comes from a
 * "connection secret" file standing in for the Secrets Manager secret (same JSON shape as RDS
 * secrets: lib/connection-string.ts). Like real apps it reads the secret once and keeps its pool
 * (AWS caching clients hold secrets ~1 h; ECS reads them at task start): a changed secret takes
 * effect only when the app is recycled — SIGHUP here (re-read, new pool, old pool closed once
 * its in-flight requests finish), or a restart.
 *
 * Run: node --import tsx lib/drill/app.ts --secret FILE --port N --name aws
 */
export interface AppOptions {
  readonly secretFile: string;
  readonly port: number;
  /** Which deployment this is ("aws" or "idc"), echoed in x-app for the drill's counters. */
  readonly name: string;
  readonly log?: (line: string) => void;
}

/** Reads the secret: the RDS secret JSON (engine, host, port, username, password, dbname, extras). */
export async function readSecret(file: string): Promise<{ dsn: Dsn; connectionLimit: number }> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new RollbackError("SECRET_INVALID", file, `cannot read the connection secret: ${messageOf(e)}`);
  }
  for (const key of ["host", "port", "username", "dbname"]) {
    if (raw[key] === undefined) throw new RollbackError("SECRET_INVALID", `${file}: ${key}`, "is missing");
  }
  return {
    dsn: { host: String(raw.host), port: Number(raw.port), user: String(raw.username), password: String(raw.password ?? ""), database: String(raw.dbname) },
    connectionLimit: Number(raw.connectionLimit ?? 8),
  };
}

interface Generation {
  readonly pool: Pool;
  readonly target: string;
  inflight: number;
  retired: boolean;
}

type Handler = (pool: Pool, id: number, body: Record<string, unknown>) => Promise<[number, unknown]>;

const rowsOf = (r: unknown) => r as RowDataPacket[];
const header = (r: unknown) => r as ResultSetHeader;
const now6 = "UTC_TIMESTAMP(6)";

/** The shop's endpoints: what users do (the load generator) and what the drill checks. */
const ROUTES: Record<string, Handler> = {
  "GET /health": async (p) => {
    await p.query("SELECT 1");
    return [200, { ok: true }];
  },
  "GET /orders": async (p, id) => {
    const [rows] = await p.query("SELECT id, customer_id, amount, status, note FROM orders WHERE id = ?", [id]);
    return rowsOf(rows).length ? [200, rowsOf(rows)[0]] : [404, { error: "no such order" }];
  },
  "POST /orders": async (p, _id, b) => {
    const [r] = await p.query(`INSERT INTO orders (customer_id, amount, status, note, created_at, updated_at) VALUES (?, ?, 'new', ?, ${now6}, ${now6})`, [
      b.customer_id,
      b.amount,
      b.note ?? null,
    ]);
    return [201, { id: header(r).insertId }];
  },
  "PUT /orders": async (p, id, b) => {
    const [r] = await p.query(`UPDATE orders SET status = ?, amount = ?, updated_at = ${now6} WHERE id = ?`, [b.status, b.amount, id]);
    return header(r).affectedRows ? [200, { id }] : [404, { error: "no such order" }];
  },
  "DELETE /orders": async (p, id) => {
    const [r] = await p.query("DELETE FROM orders WHERE id = ?", [id]);
    return header(r).affectedRows ? [200, { id }] : [404, { error: "no such order" }];
  },
  "POST /customers": async (p, _id, b) => {
    const [r] = await p.query(`INSERT INTO customers (name, email, created_at, updated_at) VALUES (?, ?, ${now6}, ${now6})`, [b.name, b.email]);
    return [201, { id: header(r).insertId }];
  },
  "PUT /customers": async (p, id, b) => {
    const [r] = await p.query(`UPDATE customers SET email = ?, updated_at = ${now6} WHERE id = ?`, [b.email, id]);
    return header(r).affectedRows ? [200, { id }] : [404, { error: "no such customer" }];
  },
};

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      try {
        resolve(text ? (JSON.parse(text) as Record<string, unknown>) : {});
      } catch {
        reject(new Error("body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

export async function startApp(opts: AppOptions): Promise<{ port: number; recycle: () => Promise<void>; close: () => Promise<void> }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`app ${opts.name}: ${l}\n`));
  let current: Generation | undefined;

  const retire = (g: Generation) => {
    if (g.retired && g.inflight === 0) void g.pool.end().catch(() => undefined);
  };

  async function recycle(): Promise<void> {
    const { dsn, connectionLimit } = await readSecret(opts.secretFile);
    const next: Generation = { pool: await createPool(dsn, { connectionLimit }), target: describeDsn(dsn), inflight: 0, retired: false };
    const old = current;
    current = next;
    log(`connection from the secret: ${next.target} (pool ${connectionLimit})`);
    if (old) {
      old.retired = true;
      retire(old);
    }
  }

  await recycle();

  const server = createServer((req, res: ServerResponse) => {
    const [, resource, idText] = /^\/([a-z]+)(?:\/(\d+))?$/.exec((req.url ?? "").split("?")[0]) ?? [];
    const handler = ROUTES[`${req.method} /${resource}`];
    const send = (status: number, body: unknown, target?: string) => {
      res.writeHead(status, { "content-type": "application/json", "x-app": opts.name, ...(target ? { "x-db": target } : {}) });
      res.end(JSON.stringify(body));
    };
    if (!handler) return send(404, { error: "no such route" });
    const g = current!;
    g.inflight++;
    readBody(req)
      .then((body) => handler(g.pool, Number(idText ?? 0), body))
      .then(
        ([status, body]) => send(status, body, g.target),
        (e: unknown) => send(500, { error: (e as { code?: string }).code ?? messageOf(e) }, g.target),
      )
      .finally(() => {
        g.inflight--;
        retire(g);
      });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    recycle,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await current?.pool.end().catch(() => undefined);
    },
  };
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    const v = i > 0 ? process.argv[i + 1] : undefined;
    if (!v) throw new Error(`--${name} is required`);
    return v;
  };
  startApp({ secretFile: arg("secret"), port: Number(arg("port")), name: arg("name") }).then(
    (app) => {
      // SIGHUP: the "recycle" of the plan's "app restart where needed": re-read the secret.
      process.on("SIGHUP", () => void app.recycle().catch((e: unknown) => process.stderr.write(`app: recycle failed: ${messageOf(e)}\n`)));
      process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
      process.stdout.write(`listening ${app.port}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`app: ${messageOf(e)}\n`);
      process.exit(2);
    },
  );
}
