import { Agent, request } from "node:http";
import type { Connection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import type { Dsn } from "../dsn";
import { messageOf } from "../errors";
import { connect } from "../mysql";
import { percentile } from "../perf";
import { customerCount } from "./shop";

/**
 * Users, as the drill's load generator: workers that keep calling the shop through nginx while
 * the rollback runs — reads, new customers and orders, updates, deletes — and count what they
 * see: requests, errors, maintenance 503s (nginx's page, with Retry-After) and the time without
 * service. Every acknowledged write goes into a ledger, so the drill can prove afterwards that
 * IDC holds every write users were told succeeded (the "lost" rows), whichever database took it.
 * Beside them a direct writer — a background job with the app's account and a database URL of
 * its own, as cron jobs and workers have — writes straight to a database, past nginx and its
 * maintenance page; its acknowledged inserts go into the same ledger.
 */
export type Outcome = "ok" | "error" | "maintenance";

interface Sample {
  /** Completion time (ms since epoch). */
  readonly t: number;
  readonly outcome: Outcome;
  /** The database that served it (from the app's x-db header, mapped to "aws"/"idc"). */
  readonly db: string;
  /** Response time, as the user waited for it. */
  readonly ms: number;
  readonly error?: string;
}

/** The last acknowledged state of a row; fields hold exact strings as MySQL returns them. */
type RowState = { deleted: true } | { deleted: false; fields: Record<string, string | null> };

interface LedgerRow {
  state: RowState;
  /** A write to this row failed without an answer: it may or may not have been applied. */
  uncertain: boolean;
  /** Where the last acknowledged write went. */
  db: string;
}

export interface ClientStats {
  readonly requests: number;
  readonly errors: number;
  readonly maintenance503: number;
  /** Time users got no service (errors or the maintenance page), from the first failure to the next success. */
  readonly downtimeMs: number;
  readonly maintenanceMs: number;
  readonly longestOutageMs: number;
  readonly byDatabase: Record<string, number>;
  /** The distinct errors seen, with counts (first ones kept). */
  readonly errorSamples: { error: string; count: number }[];
  /** Idempotent requests retried on a fresh connection after nginx closed a keep-alive one (whole run). */
  readonly retried: number;
  /** Response times of the requests the app answered (not errors, not the maintenance page). */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

export interface LedgerCheck {
  /** Rows with a certain, acknowledged last write. */
  readonly checked: number;
  /** Of those, rows whose last write went to AWS. */
  readonly writtenOnAws: number;
  /** Acknowledged inserts/updates missing or stale on IDC. */
  readonly lost: number;
  /** Acknowledged deletes that IDC still has. */
  readonly resurrected: number;
  /** Rows skipped because a write to them failed without an answer. */
  readonly uncertain: number;
  readonly sampleKeys: string[];
}

/** What the direct writer saw. */
export interface DirectStats {
  /** Inserts the server acknowledged (each in the ledger). */
  readonly acknowledged: number;
  /** Statements that got no answer (the session was killed under it): applied or not, unknown, not in the ledger. */
  readonly interrupted: number;
  /** Logins refused (the fence's ACCOUNT LOCK), with the last refusal's text. */
  readonly refused: number;
  readonly lastRefusal: string | null;
}

export interface LoadOptions {
  /** nginx, where users come in. */
  readonly baseUrl: string;
  /** Orders loaded before the drill (ids 1..rows), for reads and each worker's own partition. */
  readonly rows: number;
  readonly workers?: number;
  /** Pause between a worker's requests: users, not a benchmark, on a shared 2-core machine. */
  readonly pauseMs?: number;
  /** Maps the app's x-db header to a side ("aws" or "idc"). */
  readonly sideOf: (xdb: string) => string;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  db: string;
  maintenance: boolean;
  error?: string;
}

const rand = (n: number) => Math.floor(Math.random() * n);
const amountText = () => (1 + rand(9999) / 100).toFixed(2);

export class LoadGenerator {
  private readonly samples: Sample[] = [];
  private readonly orders = new Map<number, LedgerRow>();
  private readonly customers = new Map<number, LedgerRow>();
  private readonly agent: Agent;
  private running = false;
  /** Idempotent requests retried once after a keep-alive connection closed under them. */
  private retried = 0;
  private loops: Promise<void>[] = [];
  private readonly directCounts = { acknowledged: 0, interrupted: 0, refused: 0, lastRefusal: null as string | null };

  constructor(private readonly opts: LoadOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.workers ?? 4 });
  }

  start(): void {
    this.running = true;
    const workers = this.opts.workers ?? 4;
    this.loops = Array.from({ length: workers }, (_, w) => this.worker(w, workers));
  }

  /** Starts the direct writer on `dsn` (the app's account); it runs until stop(). */
  startDirect(dsn: Dsn, side: string, pauseMs = 40): void {
    this.loops.push(this.direct(dsn, side, pauseMs));
  }

  directStats(): DirectStats {
    return { ...this.directCounts };
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }

  /** Stats over [from, to] (ms since epoch); the whole run by default. */
  stats(from = 0, to = Infinity): ClientStats {
    const s = this.samples.filter((x) => x.t >= from && x.t <= to);
    let downtimeMs = 0;
    let maintenanceMs = 0;
    let longest = 0;
    let downSince: number | undefined;
    let allMaintenance = true;
    for (const x of s) {
      if (x.outcome === "ok") {
        if (downSince !== undefined) {
          const d = x.t - downSince;
          downtimeMs += d;
          if (allMaintenance) maintenanceMs += d;
          longest = Math.max(longest, d);
          downSince = undefined;
        }
      } else if (downSince === undefined) {
        downSince = x.t;
        allMaintenance = x.outcome === "maintenance";
      } else if (x.outcome !== "maintenance") {
        allMaintenance = false;
      }
    }
    const answered = s.filter((x) => x.outcome === "ok").map((x) => x.ms).sort((a, b) => a - b);
    const errorCounts = new Map<string, number>();
    for (const x of s) if (x.error) errorCounts.set(x.error, (errorCounts.get(x.error) ?? 0) + 1);
    const byDatabase: Record<string, number> = {};
    for (const x of s) if (x.db) byDatabase[x.db] = (byDatabase[x.db] ?? 0) + 1;
    return {
      requests: s.length,
      errors: s.filter((x) => x.outcome === "error").length,
      maintenance503: s.filter((x) => x.outcome === "maintenance").length,
      downtimeMs,
      maintenanceMs,
      longestOutageMs: longest,
      byDatabase,
      errorSamples: [...errorCounts].slice(0, 5).map(([error, count]) => ({ error, count })),
      retried: this.retried,
      p50Ms: answered.length ? percentile(answered, 50) : null,
      p95Ms: answered.length ? percentile(answered, 95) : null,
    };
  }

  /** Compares every acknowledged write with IDC (`c`: a connection to IDC's shop database). */
  async check(c: Connection): Promise<LedgerCheck> {
    let checked = 0;
    let writtenOnAws = 0;
    let lost = 0;
    let resurrected = 0;
    let uncertain = 0;
    const sampleKeys: string[] = [];
    for (const [table, ledger] of [
      ["orders", this.orders],
      ["customers", this.customers],
    ] as const) {
      const ids = [...ledger].filter(([, r]) => !r.uncertain).map(([id]) => id);
      uncertain += ledger.size - ids.length;
      for (let i = 0; i < ids.length; i += 1000) {
        const chunk = ids.slice(i, i + 1000);
        const [rows] = await c.query(`SELECT * FROM ${table} WHERE id IN (?)`, [chunk]);
        const found = new Map((rows as RowDataPacket[]).map((r) => [Number(r.id), r]));
        for (const id of chunk) {
          const want = ledger.get(id)!;
          const have = found.get(id);
          checked++;
          if (want.db === "aws") writtenOnAws++;
          if (want.state.deleted) {
            if (have) {
              resurrected++;
              if (sampleKeys.length < 10) sampleKeys.push(`${table}#${id} (deleted, still there)`);
            }
          } else if (!have || Object.entries(want.state.fields).some(([k, v]) => have[k] !== v)) {
            lost++;
            if (sampleKeys.length < 10) sampleKeys.push(`${table}#${id}`);
          }
        }
      }
    }
    return { checked, writtenOnAws, lost, resurrected, uncertain, sampleKeys };
  }

  private async worker(w: number, workers: number): Promise<void> {
    const rows = this.opts.rows;
    const customers = customerCount(rows);
    // Rows this worker alone updates or deletes, so the ledger's "last write" is well defined.
    const ownOrders: number[] = [];
    const ownCustomers: number[] = [];
    const preloaded = (n: number) => w + 1 + workers * rand(Math.max(1, Math.floor((n - w - 1) / workers) + 1));
    while (this.running) {
      const op = rand(100);
      if (op < 40) {
        await this.call("GET", `/orders/${1 + rand(rows)}`);
      } else if (op < 60) {
        const customer = ownCustomers.length && rand(3) === 0 ? ownCustomers[rand(ownCustomers.length)] : 1 + rand(customers);
        const fields = { customer_id: String(customer), amount: amountText(), status: "new", note: `drill ${w}-${Date.now()}` };
        const r = await this.call("POST", "/orders", fields);
        if (r.status === 201) {
          const id = Number(r.body.id);
          ownOrders.push(id);
          this.orders.set(id, { state: { deleted: false, fields }, uncertain: false, db: r.db });
        }
      } else if (op < 65) {
        const r = await this.call("POST", "/customers", { name: `drill user ${w}`, email: `w${w}-${Date.now()}@example.com` });
        if (r.status === 201) {
          const id = Number(r.body.id);
          ownCustomers.push(id);
          this.customers.set(id, { state: { deleted: false, fields: {} }, uncertain: false, db: r.db });
        }
      } else if (op < 80) {
        const id = ownOrders.length && rand(2) === 0 ? ownOrders[rand(ownOrders.length)] : preloaded(rows);
        const fields = { status: ["paid", "shipped", "cancelled"][rand(3)], amount: amountText() };
        await this.write(this.orders, id, "PUT", `/orders/${id}`, fields);
      } else if (op < 90) {
        const id = ownOrders.length && rand(2) === 0 ? ownOrders[rand(ownOrders.length)] : preloaded(rows);
        await this.write(this.orders, id, "DELETE", `/orders/${id}`, undefined);
      } else {
        const id = ownCustomers.length && rand(2) === 0 ? ownCustomers[rand(ownCustomers.length)] : preloaded(customers);
        const fields = { email: `w${w}-${Date.now()}@example.com` };
        await this.write(this.customers, id, "PUT", `/customers/${id}`, fields);
      }
      await new Promise((r) => setTimeout(r, this.opts.pauseMs ?? 25));
    }
  }

  private async direct(dsn: Dsn, side: string, pauseMs: number): Promise<void> {
    const customers = customerCount(this.opts.rows);
    const d = this.directCounts;
    let c: Connection | undefined;
    while (this.running) {
      if (!c) {
        try {
          c = await connect(dsn);
        } catch (e) {
          d.refused++;
          d.lastRefusal = messageOf(e);
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
      }
      const fields = { customer_id: String(1 + rand(customers)), amount: amountText(), status: "new", note: `direct ${Date.now()}` };
      try {
        // As the app writes an order (lib/drill/app.ts): created_at/updated_at have no default.
        const [r] = await c.query<ResultSetHeader>(
          "INSERT INTO orders (customer_id, amount, status, note, created_at, updated_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
          [fields.customer_id, fields.amount, fields.status, fields.note],
        );
        this.orders.set(r.insertId, { state: { deleted: false, fields }, uncertain: false, db: side });
        d.acknowledged++;
      } catch {
        d.interrupted++;
        await c.end().catch(() => undefined);
        c = undefined;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    await c?.end().catch(() => undefined);
  }

  /** An update or delete of a row this worker owns; the ledger follows the answer. */
  private async write(ledger: Map<number, LedgerRow>, id: number, method: string, path: string, fields: Record<string, string> | undefined): Promise<void> {
    const r = await this.call(method, path, fields);
    const prev = ledger.get(id);
    if (r.status === 200) {
      const state: RowState = fields ? { deleted: false, fields: { ...(prev && !prev.state.deleted ? prev.state.fields : {}), ...fields } } : { deleted: true };
      ledger.set(id, { state, uncertain: false, db: r.db });
    } else if (r.status === 404) {
      // The row is not there: deleted earlier by this worker (the only one that deletes it).
      if (prev) ledger.set(id, { ...prev, state: { deleted: true }, uncertain: false });
    } else if (!r.maintenance) {
      // No answer (or a 5xx): the write may have been applied or not.
      ledger.set(id, prev ? { ...prev, uncertain: true } : { state: { deleted: true }, uncertain: true, db: r.db });
    }
  }

  private call(method: string, path: string, body?: Record<string, string>): Promise<Reply> {
    const started = performance.now();
    return this.send(method, path, body, true).then((r) => {
      const outcome: Outcome = r.maintenance ? "maintenance" : r.status === 0 || r.status >= 500 ? "error" : "ok";
      this.samples.push({ t: Date.now(), outcome, db: r.db, ms: performance.now() - started, ...(outcome === "error" ? { error: r.error ?? `HTTP ${r.status}` } : {}) });
      return r;
    });
  }

  /**
   * One HTTP request. A keep-alive connection nginx closes as it reloads can take a request in
   * the same instant ("socket hang up" on a reused socket): like browsers (RFC 9110 §9.2.2) and
   * node's own guidance (`request.reusedSocket`), an idempotent request is retried once on a
   * fresh connection; a POST is not, and counts as an error.
   */
  private send(method: string, path: string, body: Record<string, string> | undefined, mayRetry: boolean): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      const payload = body ? JSON.stringify(body) : undefined;
      const where = `${method} ${path.replace(/\d+/g, ":id")}`;
      const req = request(
        `${this.opts.baseUrl}${path}`,
        { method, agent: this.agent, timeout: 5_000, headers: payload ? { "content-type": "application/json" } : {} },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(text) as Record<string, unknown>;
            } catch {
              // nginx's pages are HTML
            }
            const xdb = res.headers["x-db"];
            resolve({
              status: res.statusCode ?? 0,
              body: parsed,
              db: typeof xdb === "string" ? this.opts.sideOf(xdb) : "",
              // nginx's maintenance page: 503 with Retry-After (nginx/maintenance-server.conf); the app never sends it.
              maintenance: res.statusCode === 503 && res.headers["retry-after"] !== undefined,
              error: res.statusCode && res.statusCode >= 500 ? `${where}: ${res.statusCode} ${String(parsed.error ?? "")}`.trim() : undefined,
            });
          });
          res.on("error", (e) => resolve({ status: 0, body: {}, db: "", maintenance: false, error: `${where}: ${e.message}` }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout after 5 s")));
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (mayRetry && req.reusedSocket && method !== "POST" && (e.code === "ECONNRESET" || e.message === "socket hang up")) {
          this.retried++;
          resolve(this.send(method, path, body, false));
        } else {
          resolve({ status: 0, body: {}, db: "", maintenance: false, error: `${where}: ${e.message}` });
        }
      });
      req.end(payload);
    });
  }
}
