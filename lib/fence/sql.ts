/**
 * Every statement the fence sends, in one place (exact-string tests: test/fence/sql.test.ts).
 * Account names go in as `?` parameters: mysql2 quotes them client-side, which SHOW CREATE USER
 * and ALTER USER need (they take no server-side placeholders).
 */
export const FENCE_SQL = {
  accountsOf: "SELECT User AS user, Host AS host FROM mysql.user WHERE User = ?",
  showCreateUser: "SHOW CREATE USER ?@?",
  lock: "ALTER USER ?@? ACCOUNT LOCK",
  unlock: "ALTER USER ?@? ACCOUNT UNLOCK",
  readOnly: "SELECT @@global.read_only AS readOnly",
  superReadOnly: "SELECT @@global.super_read_only AS superReadOnly",
  /** SET GLOBAL read_only waits for open transactions and LOCK TABLES: bounded by this (seconds). */
  lockWaitTimeout: "SET SESSION lock_wait_timeout = ?",
  setReadOnly: "SET GLOBAL read_only = ?",
  setSuperReadOnly: "SET GLOBAL super_read_only = ?",
} as const;
