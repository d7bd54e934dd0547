import type { PerfQuery } from "../perf";
import type { LocalServer } from "../sandbox/server";
import { Progress } from "../progress";
import { seq } from "../sandbox/seq";

/**
 * The drill's production stand-in: a small shop schema (customers and their orders, with a
 * foreign key, DECIMAL money, DATETIME(6) times, and an order history kept by triggers, as a
 * schema migrated 1:1 has them) loaded into IDC before the cut-over.
 */
export const DATABASE = "shop";
/** Where health.ts writes its canary row: outside the application's database, so it never shows up as a difference. */
export const OPS_DATABASE = "rollback_ops";

export const SCHEMA = [
  `CREATE TABLE customers (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     name VARCHAR(100) NOT NULL,
     email VARCHAR(200) NOT NULL,
     created_at DATETIME(6) NOT NULL,
     updated_at DATETIME(6) NOT NULL
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  `CREATE TABLE orders (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     customer_id BIGINT NOT NULL,
     amount DECIMAL(12,2) NOT NULL,
     status ENUM('new','paid','shipped','cancelled') NOT NULL,
     note VARCHAR(255) NULL,
     created_at DATETIME(6) NOT NULL,
     updated_at DATETIME(6) NOT NULL,
     KEY idx_orders_customer (customer_id),
     CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  // No foreign key to orders: the history outlives a deleted order.
  `CREATE TABLE order_events (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     order_id BIGINT NOT NULL,
     status ENUM('new','paid','shipped','cancelled') NOT NULL,
     at DATETIME(6) NOT NULL,
     KEY idx_order_events_order (order_id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  // The triggers are why a rollback's sync must drop and recreate the target's triggers
  // (lib/data/triggers.ts): left in place, every order the sync writes would add a history row
  // AWS never had. They fire on the load, the app's writes and the direct writer alike.
  `CREATE TRIGGER order_events_insert AFTER INSERT ON orders FOR EACH ROW
     INSERT INTO order_events (order_id, status, at) VALUES (NEW.id, NEW.status, NEW.updated_at)`,
  `CREATE TRIGGER order_events_status AFTER UPDATE ON orders FOR EACH ROW
     IF NEW.status <> OLD.status THEN
       INSERT INTO order_events (order_id, status, at) VALUES (NEW.id, NEW.status, NEW.updated_at);
     END IF`,
];

export const TABLES = ["customers", "orders", "order_events"] as const;
/** The triggers SCHEMA creates: the rollback must leave them on IDC as they are on AWS. */
export const TRIGGERS = ["order_events_insert", "order_events_status"] as const;

/** Customers for `rows` orders: one per ten orders, at least 50. */
export function customerCount(rows: number): number {
  return Math.max(50, Math.ceil(rows / 10));
}

/** Creates the schema on a server (both sides get it: the migration's schema load). */
export async function createSchema(server: LocalServer): Promise<void> {
  await server.exec(`CREATE DATABASE ${DATABASE}`, `CREATE DATABASE ${OPS_DATABASE}`, `USE ${DATABASE}`, ...SCHEMA);
}

const BATCH = 100_000;

/**
 * Loads `rows` orders into IDC, server-side (a recursive-CTE integer table, both flavours), in batches
 * so a million rows show progress and no statement runs long.
 */
export async function loadRows(server: LocalServer, rows: number, quiet: boolean): Promise<void> {
  const customers = customerCount(rows);
  const progress = new Progress({ label: "load IDC", total: rows + customers, quiet });
  await server.exec(
    `INSERT INTO ${DATABASE}.customers (id, name, email, created_at, updated_at)
     SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com'),
            '2024-01-01 00:00:00.000000' + INTERVAL seq SECOND, '2024-06-01 00:00:00.123456' + INTERVAL seq SECOND
     FROM ${seq(1, customers)}`,
  );
  progress.add(customers);
  for (let from = 1; from <= rows; from += BATCH) {
    const to = Math.min(rows, from + BATCH - 1);
    await server.exec(
      `INSERT INTO ${DATABASE}.orders (id, customer_id, amount, status, note, created_at, updated_at)
       SELECT seq, 1 + (seq * 7919) % ${customers}, ROUND(1 + (seq * 37) % 9999 / 100, 2),
              ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'),
              IF(seq % 5 = 0, NULL, CONCAT('order ', seq)),
              '2024-02-01 00:00:00.000000' + INTERVAL seq SECOND, '2024-07-01 12:00:00.654321' + INTERVAL seq SECOND
       FROM ${seq(from, to)}`,
    );
    progress.add(to - from + 1);
  }
  progress.finish();
}

/**
 * The configured query set of the performance probe: what the shop's pages run. Mostly a report
 * over a few hundred customers (milliseconds of work, so a loaded machine's noise stays small
 * against it), plus the lookups every page does.
 */
export function probeQueries(rows: number): PerfQuery[] {
  const customers = customerCount(rows);
  return [
    { name: "order by id", sql: "SELECT id, customer_id, amount, status, note FROM orders WHERE id = ?", params: [Math.ceil(rows / 2)] },
    { name: "orders of a customer", sql: "SELECT id, amount, status FROM orders WHERE customer_id = ? ORDER BY id", params: [Math.ceil(customers / 3)] },
    {
      name: "customer totals",
      sql: "SELECT customer_id, COUNT(*) AS n, SUM(amount) AS total FROM orders WHERE customer_id BETWEEN ? AND ? GROUP BY customer_id",
      params: [1, Math.min(customers, 300)],
    },
  ];
}
