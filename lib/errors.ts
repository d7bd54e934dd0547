/**
 * Every error code the tools emit: stable, machine-readable, and listed here so the compiler
 * catches a typo and a reader sees the whole vocabulary at once. Add new codes here.
 */
export type ErrorCode =
  | "ABORTED"
  | "ACCOUNT_UNKNOWN"
  | "ARGS_INVALID"
  | "ARGS_MISSING"
  | "AWS_UNAVAILABLE"
  | "BACKUP_BUSY"
  | "BACKUP_EXISTS"
  | "BACKUP_FILE_BAD"
  | "BACKUP_FILE_CHANGED"
  | "BACKUP_INCOMPLETE"
  | "BACKUP_INVALID"
  | "BACKUP_MISSING"
  | "BUILD_STALE"
  | "COLUMN_UNSUPPORTED"
  | "COMMAND_INVALID"
  | "COMMAND_SPAWN"
  | "CONFIG_INVALID"
  | "CONTAINER_NOT_FOUND"
  | "DB_CONNECT"
  | "DB_MISSING"
  | "DB_QUERY"
  | "DB_TLS"
  | "DNS_WEIGHTS_INVALID"
  | "DOCKER_OUTPUT"
  | "DOCKER_RESTART"
  | "DOCKER_UNAVAILABLE"
  | "DOCKER_UNPAUSE"
  | "DRILL_FAULT"
  | "DRILL_STEP"
  | "DSN_INVALID"
  | "DSN_MISSING"
  | "DSN_MISMATCH"
  | "ENV_INVALID"
  | "FENCE_UNSUPPORTED"
  | "FILE_LOCKED"
  | "FILE_NOT_INCLUDED"
  | "FILE_NOT_OURS"
  | "FILE_NOT_UPSTREAM"
  | "FILE_UNPARSEABLE"
  | "FILE_UNREADABLE"
  | "FILE_UNWRITABLE"
  | "HOSTPORT_INVALID"
  | "IMPACT_REFUSED"
  | "KEY_UNSUPPORTED"
  | "OBJECT_CREATE"
  | "NGINX_DUMP_FAILED"
  | "NOTHING_MEASURED"
  | "PERF_QUERIES_INVALID"
  | "PERF_QUERY_FAILED"
  | "PERF_QUERY_NOT_READ_ONLY"
  | "POSITION_INVALID"
  | "POSITION_UNAVAILABLE"
  | "PRIVILEGE_MISSING"
  | "PREVIEW_INVALID"
  | "RDS_AURORA"
  | "RDS_HAS_REPLICAS"
  | "RDS_INVALID_STATE"
  | "RDS_NOT_FOUND"
  | "RDS_NO_CAPACITY"
  | "RDS_SNAPSHOT_EXISTS"
  | "RDS_TIMEOUT"
  | "RDS_UNEXPECTED_STATE"
  | "REFUSED"
  | "REPLICA_NOT_CONFIGURED"
  | "REPLICA_RUNNING"
  | "RESTORE_BUSY"
  | "RESTORE_CHECK_FAILED"
  | "RESTORE_CROSS_DATABASE"
  | "RESTORE_GTID"
  | "RESTORE_PRIVILEGES"
  | "RESTORE_UNDO_FAILED"
  | "ROW_TOO_LARGE"
  | "ROUTE53_CONFLICT"
  | "ROUTE53_ZONE_NOT_FOUND"
  | "RUN_ID_MISSING"
  | "SAME_SERVER"
  | "SCHEMA_UNSAFE"
  | "SECRET_INVALID"
  | "SECRET_KMS_KEY"
  | "SECRET_NOT_FOUND"
  | "SECRET_UNREADABLE"
  | "SHRINK_REFUSED"
  | "STABILITY_UNKNOWN"
  | "STATE_INVALID"
  | "STATE_MISMATCH"
  | "STEP_UNKNOWN"
  | "SYNC_WRITE"
  | "SYNC_BUSY"
  | "TABLE_MISSING"
  | "TABLE_NO_KEY"
  | "TABLE_UNKNOWN"
  | "TARGET_TRIGGERS"
  | "THRESHOLDS_INVALID"
  | "TIMELINE_INVALID"
  | "TIMELINE_MISSING"
  | "TOOLS_MISSING"
  | "TOOL_FAILED"
  | "TOOL_MISMATCH"
  | "TOOL_MISSING"
  | "TRIGGERS_NOT_RESTORED"
  | "UNEXPECTED"
  | "UPSTREAM_DUPLICATE"
  | "UPSTREAM_INVALID"
  | "VALUE_INVALID";

/**
 * Errors are values: a stable code, the thing that is wrong, and what to do about it.
 * Scripts print `message` and exit 2; reports carry `code` and `subject` as data.
 */
export class RollbackError extends Error {
  constructor(
    /** Stable machine-readable code, e.g. `CONFIG_INVALID`, `TABLE_NO_KEY`. */
    readonly code: ErrorCode,
    /** The offending key, file, table or host, exactly as the user wrote it. */
    readonly subject: string,
    /** What is wrong. */
    readonly problem: string,
    /** What to do about it. */
    readonly hint?: string,
  ) {
    super(formatError(code, subject, problem, hint));
    this.name = "RollbackError";
  }

  toJSON(): Record<string, string | undefined> {
    return { code: this.code, subject: this.subject, problem: this.problem, hint: this.hint };
  }
}

/** The one-line form of an error: `CODE: subject: problem (hint)`. */
export function formatError(code: ErrorCode | string, subject: string, problem: string, hint?: string): string {
  return `${code}: ${subject}: ${problem}${hint ? ` (${hint})` : ""}`;
}

export function isRollbackError(e: unknown): e is RollbackError {
  return e instanceof RollbackError;
}

/** The message of anything thrown, without a stack; secrets are scrubbed by the caller. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The name of an AWS SDK error (`ResourceNotFoundException`, `DBInstanceNotFoundFault`, ...). */
export function awsErrorName(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "name" in e ? String((e as { name: unknown }).name) : undefined;
}
