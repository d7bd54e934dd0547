import type { Connection } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { CommitPosition, ServerInfo, binlogStatusSql, commitPosition, formatPosition, globalVariableSql, gtidVariables } from "../flavor";
import type { TableCheck } from "./preflight";
import type { SourcePosition, VerifyTableReport } from "./report";
import { Side, rows } from "./session";
import { BINARY_LOGS_SQL, BINLOG_FORMAT_SQL, INNODB_STATUS_SQL, MAX_TRX_ID_SQL, binlogEventsSql } from "./sql";

/**
 * The proof that a table did not change while it was compared. Chunks are compared at
 * different moments, so a write behind an already-compared chunk would go unseen; verify reads
 * a point on both servers before and after comparing a table and accepts "identical" only if
 * nothing that can change that table committed in between (verify.ts repeats it otherwise).
 *
 * Two proofs, chosen per server when the run starts (ProofInfo says which, and why):
 *
 * - "binlog" (scoped): the binary log's events between the two positions are read
 *   (SHOW BINLOG EVENTS) and only writes to the compared table count. In row format every
 *   changed row is logged after a Table_map event naming `schema.table`, whatever engine and
 *   whether a trigger made it, so writes to other schemas or tables on a shared server (another
 *   app on the same RDS instance) do not spoil the proof. What cannot be attributed counts as a
 *   write to the table: a statement-logged write or DDL (Query events other than BEGIN/COMMIT),
 *   compressed transactions (Transaction_payload hides its events), unknown events, a log file
 *   purged meanwhile. Foreign key cascades are applied inside InnoDB and not logged (only the
 *   parent's row event is), so for a table with foreign keys every write to its database counts;
 *   parents in another database are not followed (ForeignKeyInfo does not record their schema).
 *   Writes by sessions with sql_log_bin=0 are invisible (setting it needs SUPER or BINLOG ADMIN,
 *   which RDS's master user lacks).
 * - "marker" (server-wide): any commit anywhere on the server counts. MariaDB:
 *   Innodb_max_trx_id (moves for every read-write InnoDB transaction, binlog or not) plus
 *   gtid_binlog_pos; MySQL: gtid_executed, the binlog position and the InnoDB "Trx id counter"
 *   (SHOW ENGINE INNODB STATUS needs PROCESS), which on MySQL also moves once ~250 ms after a
 *   write (background purge): that costs a round, never a wrong answer. Used without a binary
 *   log, without the grant to read it, or with binlog_format=STATEMENT. Without a binary log,
 *   writes to non-transactional tables (MyISAM, Aria, MEMORY) move no marker: such tables are
 *   reported "unproven", never identical.
 *
 * Our own reads never move either.
 */

/** One reading of a server, before or after a table is compared. */
export interface Point {
  /** "binlog" proof: where the binary log ended (null: it could not be read this time). */
  readonly binlog: { readonly file: string; readonly pos: number } | null;
  /** "marker" proof: the server-wide marker. */
  readonly marker: string | null;
}

/** Which proof a server gets in this run (reported as VerifyReport.proof). */
export interface ProofInfo {
  readonly kind: "binlog" | "marker";
  /** Why the proof is not scoped to the compared tables (or where it falls back), and what would make it so; null when fully scoped. */
  readonly limitation: string | null;
  /** Whether writes to non-transactional tables are seen (a binary log is part of the proof). */
  readonly coversNonTransactional: boolean;
}

/** What one table's proof watches on one server. */
export interface Scope {
  readonly database: string;
  /** The table itself, or its whole database when it has foreign keys (cascades are not logged). */
  readonly tables: ReadonlySet<string> | "database";
  readonly transactional: boolean;
}

export function scopeOf(check: TableCheck, side: Side): Scope {
  const t = side.name === "source" ? check.source : check.target;
  return {
    database: side.dsn.database,
    tables: t?.foreignKeys.length ? "database" : new Set([check.table]),
    transactional: !t?.engine || t.engine.toUpperCase() === "INNODB",
  };
}

/** Events that carry no write of their own: rows events are named by their Table_map, Xid ends a transaction. */
const SILENT_EVENTS = new Set(
  [
    "Format_desc",
    "Previous_gtids",
    "Gtid",
    "Anonymous_Gtid",
    "Gtid_tagged_log",
    "Gtid_list",
    "Binlog_checkpoint",
    "Rotate",
    "Stop",
    "Start_encryption",
    "Heartbeat",
    "Xid",
    "XA_prepare",
    "Annotate_rows",
    "Rows_query",
    "Intvar",
    "User_var",
    "Rand",
  ].map((s) => s.toLowerCase()),
);

const ROWS_EVENT = /^(Write|Update|Delete|Partial_update)_rows/i;
const TRANSACTION_CONTROL = /^(BEGIN|COMMIT|ROLLBACK|XA\s+(START|BEGIN|END|PREPARE|COMMIT|ROLLBACK)\b)/i;

/** Whether one SHOW BINLOG EVENTS row may have written to the scope (pure; see the header). */
export function eventTouches(type: string, info: string, scope: Scope): boolean {
  if (type === "Table_map") {
    const m = /^table_id: \d+ \((.*)\)$/.exec(info.trim());
    if (!m) return true;
    const name = m[1].toLowerCase();
    const prefix = `${scope.database.toLowerCase()}.`;
    if (!name.startsWith(prefix)) return false;
    if (scope.tables === "database") return true;
    const table = name.slice(prefix.length);
    return [...scope.tables].some((t) => t.toLowerCase() === table);
  }
  if (ROWS_EVENT.test(type) || SILENT_EVENTS.has(type.toLowerCase())) return false;
  if (type === "Query") return !TRANSACTION_CONTROL.test(info.trim());
  return true;
}

const EVENTS_PAGE = 1000;

function binlogGrant(s: ServerInfo): string {
  return s.flavor === "mysql" ? "REPLICATION SLAVE" : "BINLOG MONITOR";
}

async function binlogPoint(conn: Connection, s: ServerInfo): Promise<Point["binlog"]> {
  const [r] = await rows<{ File: string; Position: string }>(conn, binlogStatusSql(s)).catch(() => []);
  return r?.File ? { file: String(r.File), pos: Number(r.Position) } : null;
}

/**
 * The server-wide marker: text that changes whenever anything commits. `binlogged` when a
 * binary log or GTID part is in it (then non-transactional writes move it too). null when
 * nothing is readable.
 */
async function commitMarker(conn: Connection, s: ServerInfo): Promise<{ text: string; binlogged: boolean } | null> {
  const parts: string[] = [];
  const gtid = await rows<{ g: string }>(conn, globalVariableSql(gtidVariables(s).source)).then(
    ([g]) => String(g?.g ?? ""),
    // gtid_executed does not exist before MySQL 5.6: the other signals must do.
    () => "",
  );
  if (gtid) parts.push(`gtid:${gtid}`);
  if (s.flavor === "mysql") {
    const b = await binlogPoint(conn, s);
    if (b) parts.push(`binlog:${b.file}:${b.pos}`);
  }
  const binlogged = parts.length > 0;
  if (s.flavor === "mariadb") {
    const [trx] = await rows<{ Value: string }>(conn, MAX_TRX_ID_SQL);
    if (trx) parts.push(`trx:${trx.Value}`);
  } else {
    // No PROCESS privilege: the binlog signals above must do.
    const [st] = await rows<{ Status: string }>(conn, INNODB_STATUS_SQL).catch(() => []);
    const m = /Trx id counter\s+(\d+)/.exec(st?.Status ?? "");
    if (m) parts.push(`trx:${m[1]}`);
  }
  return parts.length ? { text: parts.join(" "), binlogged } : null;
}

export class SideStability {
  private constructor(
    private readonly side: Side,
    private readonly server: ServerInfo,
    readonly info: ProofInfo,
  ) {}

  /** Chooses the proof for a server; null when it offers neither a readable binary log nor a marker. */
  static async open(side: Side): Promise<SideStability | null> {
    const server: ServerInfo = side;
    const conn = side.reader;
    const at = await binlogPoint(conn, server);
    const grant = binlogGrant(server);
    const scopedBy = `enable log_bin with binlog_format=ROW and grant ${grant} for a proof scoped to the compared tables`;
    let limitation: string;
    if (at) {
      const [f] = await rows<{ f: string }>(conn, BINLOG_FORMAT_SQL).catch(() => []);
      const format = String(f?.f ?? "ROW").toUpperCase();
      const readable = await rows(conn, binlogEventsSql(at.file, at.pos, 1)).then(
        () => null,
        (e: unknown) => messageOf(e),
      );
      if (format === "STATEMENT") limitation = `binlog_format is STATEMENT (statements do not name every table they write): set binlog_format=ROW for a proof scoped to the compared tables`;
      else if (readable !== null) limitation = `SHOW BINLOG EVENTS was refused (${readable}): grant ${grant} for a proof scoped to the compared tables`;
      else {
        const mixed = format === "MIXED" ? "binlog_format is MIXED: a write logged as a statement counts as a write to every compared table; set binlog_format=ROW to scope all writes" : null;
        return new SideStability(side, server, { kind: "binlog", limitation: mixed, coversNonTransactional: true });
      }
    } else {
      limitation = `the binary log is off or its status unreadable: every commit on the server counts; ${scopedBy}`;
    }
    const marker = await commitMarker(conn, server);
    if (!marker) return null;
    return new SideStability(side, server, { kind: "marker", limitation, coversNonTransactional: marker.binlogged });
  }

  /** Whether this proof can see every write to the scope (non-transactional tables need a binary log). */
  covers(scope: Scope): boolean {
    return scope.transactional || this.info.coversNonTransactional;
  }

  async point(): Promise<Point> {
    if (this.info.kind === "binlog") return { binlog: await binlogPoint(this.side.reader, this.server), marker: null };
    return { binlog: null, marker: (await commitMarker(this.side.reader, this.server))?.text ?? null };
  }

  /** Whether nothing that can change the scope committed between two points. */
  async quiet(before: Point, after: Point, scope: Scope): Promise<boolean> {
    if (this.info.kind === "marker") return before.marker !== null && before.marker === after.marker;
    const [a, b] = [before.binlog, after.binlog];
    if (!a || !b) return false;
    if (a.file === b.file && a.pos === b.pos) return true;
    // A log that cannot be read any more (purged, rotated away) proves nothing.
    return this.touched(a, b, scope).then(
      (t) => !t,
      () => false,
    );
  }

  private async touched(a: NonNullable<Point["binlog"]>, b: NonNullable<Point["binlog"]>, scope: Scope): Promise<boolean> {
    let files = [a.file];
    if (a.file !== b.file) {
      const names = (await rows<{ Log_name: string }>(this.side.reader, BINARY_LOGS_SQL)).map((r) => String(r.Log_name));
      const [i, j] = [names.indexOf(a.file), names.indexOf(b.file)];
      if (i < 0 || j < i) return true;
      files = names.slice(i, j + 1);
    }
    for (const file of files) {
      // 4: the first event after the file's magic number.
      let pos = file === a.file ? a.pos : 4;
      const end = file === b.file ? b.pos : Infinity;
      while (pos < end) {
        const page = await rows<{ Pos: string; End_log_pos: string; Event_type: string; Info: string }>(this.side.reader, binlogEventsSql(file, pos, EVENTS_PAGE));
        for (const e of page) {
          if (Number(e.Pos) >= end) return false;
          if (eventTouches(String(e.Event_type), String(e.Info ?? ""), scope)) return true;
          pos = Number(e.End_log_pos);
        }
        if (page.length < EVENTS_PAGE) break;
      }
    }
    return false;
  }

  /** The server's commit position (lib/flavor.ts). */
  position(): Promise<CommitPosition | null> {
    return commitPosition(this.side.reader, this.server);
  }
}

const opened = new WeakMap<Side, Promise<SideStability | null>>();

/** The proof of one server, chosen once per session (memoised on the Side). */
export function stabilityOf(side: Side): Promise<SideStability | null> {
  let p = opened.get(side);
  if (!p) {
    p = SideStability.open(side);
    opened.set(side, p);
  }
  return p;
}

/** Both servers' proofs; fails early when one offers none, instead of reporting every table as changing. */
export async function requireProofs(sides: { source: Side; target: Side }): Promise<[SideStability, SideStability]> {
  const out: SideStability[] = [];
  for (const side of [sides.source, sides.target]) {
    const s = await stabilityOf(side);
    if (!s) {
      throw new RollbackError(
        "STABILITY_UNKNOWN",
        side.label,
        "cannot tell whether this server commits writes during the comparison (no binlog, GTID or InnoDB transaction counter readable)",
        "grant PROCESS or enable the binary log, or pass --assume-quiet once writes are stopped",
      );
    }
    out.push(s);
  }
  return [out[0], out[1]];
}

/**
 * The source point at which each proven table report was proven (the "after" reading of its
 * last round), kept beside the report rather than in its JSON: provenPosition needs it.
 */
const provenAt = new WeakMap<VerifyTableReport, Point>();

export function recordProof(report: VerifyTableReport, sourceAfter: Point): VerifyTableReport {
  provenAt.set(report, sourceAfter);
  return report;
}

/**
 * The source's commit position at which every table was identical at once: each table was
 * proven at its own moment, so each proof is extended to now (nothing in its scope committed
 * since). The position is read before that final point, so it is never later than the proof.
 * null when a table's proof does not reach now (or the source has no position).
 */
export async function provenPosition(
  source: Side,
  checks: readonly TableCheck[],
  tables: readonly VerifyTableReport[],
): Promise<SourcePosition | null> {
  const stab = await stabilityOf(source);
  if (!stab) return null;
  const position = await stab.position();
  if (!position) return null;
  const text = formatPosition(position);
  if (tables.length && tables.every((t) => t.stability === "assumed")) return { ...position, text, proof: "assumed" };
  const now = await stab.point();
  const byTable = new Map(checks.map((c) => [c.table, c]));
  for (const t of tables) {
    const at = provenAt.get(t);
    const check = byTable.get(t.table);
    if (t.stability !== "proven" || !at || !check || !(await stab.quiet(at, now, scopeOf(check, source)))) return null;
  }
  return { ...position, text, proof: stab.info.kind };
}
