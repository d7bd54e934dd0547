import type { Connection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { ident } from "../mysql";
import type { ChunkComparison } from "./compare";
import { idSet } from "./row-diff";
import { rawRows, streamRaw } from "./session";
import {
  clearVariablesSql,
  deleteSql,
  insertHead,
  jsonTemporalsSql,
  keysPredicate,
  rangePredicate,
  selectRowsSql,
  setPieceSql,
  upsertTail,
  valuePieceSql,
  variableLengthSql,
  variableValue,
} from "./sql";
import type { ColumnInfo, IndexInfo, KeyToken, TablePlan } from "./types";
import { jsonLiteral, parseKeyToken, valueLiteral } from "./values";

/**
 * Writes one differing chunk to the target in one transaction: delete extra rows, then
 * stream the source's missing and changed rows into multi-row INSERTs. A kill -9 at any
 * moment leaves the chunk either fully applied or not at all (InnoDB rolls the open
 * transaction back), and a rerun recomputes the diff from both servers, so it converges.
 *
 * Changed rows are written with INSERT ... ON DUPLICATE KEY UPDATE, unless the table has
 * another unique key: then MySQL's upsert may update the wrong row or fail when two rows
 * swap a unique value ("if more than one unique index is matched, only one row is
 * updated"), so changed rows are deleted and re-inserted, and target rows that hold a
 * unique value an incoming row needs are deleted first ("displaced"; their own chunk, or
 * the next pass, writes them back from the source).
 */

export interface ApplyCounts {
  inserted: number;
  updated: number;
  deleted: number;
  displaced: number;
}

const KEYS_PER_STATEMENT = 500;

/**
 * Statements are sized by bytes, never by rows. A statement's text is held several times at
 * once (the row literals, their join, mysql2's packet) and on-heap garbage lags behind V8's
 * collections: 16 MB statements of 512 KB BLOBs (hex literals: twice their bytes) peaked at
 * 307–345 MB RSS (issue 12 item 5). So text statements stay small, and values above
 * BIG_VALUE_BYTES never become SQL text at all: they go to a session variable as binary
 * parameters of a prepared `SET` (raw bytes, no hex, no JS string), in pieces, and the row's
 * INSERT names the variable (bench/wide-rows.ts, bench/data.md).
 */
export const STATEMENT_BYTES = 4 * 1024 * 1024;
export const BIG_VALUE_BYTES = 64 * 1024;
/** Room below max_allowed_packet for a statement's head, tail and the protocol's framing. */
const PACKET_MARGIN = 64 * 1024;

export interface BatchBudget {
  /** Largest statement text sent, and largest piece of a big value. */
  readonly statementBytes: number;
  /** A text/BLOB/spatial value above this many bytes is sent as binary pieces of statementBytes. */
  readonly bigValueBytes: number;
  /**
   * Largest value the target can be sent at all: the server refuses a string function result
   * (CONCAT, here) above max_allowed_packet (NULL with a warning: "Result of concat() was
   * larger than max_allowed_packet"), so that bounds a value, not our statement size.
   */
  readonly valueBytes: number;
}

/** The byte bounds of one target, from its max_allowed_packet (pure). */
export function batchBudget(maxAllowedPacket: number): BatchBudget {
  const room = Math.max(0, maxAllowedPacket - PACKET_MARGIN);
  const statementBytes = Math.max(4096, Math.min(STATEMENT_BYTES, room));
  return { statementBytes, bigValueBytes: Math.min(BIG_VALUE_BYTES, Math.floor(statementBytes / 8)), valueBytes: room };
}

/**
 * Kinds whose value can be read with SUBSTRING and rebuilt with CONCAT piece by piece (JSON,
 * numbers, temporals, and spatial values, whose SUBSTRING is not defined on every version,
 * cannot: they travel whole, within the statement budget).
 */
const PIECEWISE = new Set(["text", "binary"]);

/**
 * The written columns of a row whose values go through session variables: piecewise kinds
 * whose value exceeds bigValueBytes (pure; `lengths` are the values' bytes, null for NULL).
 */
export function bigColumns(columns: readonly ColumnInfo[], lengths: readonly (number | null)[], budget: BatchBudget): number[] {
  return columns.flatMap((c, i) => (PIECEWISE.has(c.kind) && (lengths[i] ?? 0) > budget.bigValueBytes ? [i] : []));
}

/** The session variable that carries written column `i` of a wide row. */
function pieceVariable(i: number): string {
  return `rollback_value_${i}`;
}

function batches<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * One part of another unique key, as the displacement compares it on the target: a written
 * column (its value is in the row), or a generated column or functional key part (MySQL
 * 8.0.13+), whose value the source computes beside the row (`extra`, selectRowsSql).
 */
type UniquePart = { readonly column: ColumnInfo; readonly position: number } | { readonly sql: string; readonly extra: number };

export class Applier {
  private readonly deleteInsert: boolean;
  private readonly uniqueParts: { index: IndexInfo; parts: UniquePart[] }[];
  /**
   * SQL expressions the source computes after the written columns: unique parts that are not
   * written, and each MySQL JSON column's temporal scalars (jsonTemporalsSql).
   */
  private readonly extra: string[] = [];
  /** Written column position → position in `extra` of its JSON temporals. */
  private readonly jsonTemporals = new Map<number, number>();

  constructor(
    /** A source session of its own: the comparison of the next chunk runs on the readers meanwhile. */
    private readonly source: Connection,
    private readonly writer: Connection,
    private readonly plan: TablePlan,
    /** Byte bounds from the target's max_allowed_packet (batchBudget). */
    private readonly budget: BatchBudget,
  ) {
    this.deleteInsert = plan.otherUniqueKeys.length > 0;
    const pos = new Map(plan.columns.map((c, i) => [c.name, i]));
    const part = (name: string, functional: boolean): UniquePart => {
      const position = functional ? undefined : pos.get(name);
      if (position !== undefined) return { column: plan.columns[position], position };
      // A functional part is its expression text as MySQL prints it; a generated column its name.
      const sql = functional && name.startsWith("(") ? name : ident(name);
      this.extra.push(sql);
      return { sql, extra: this.extra.length - 1 };
    };
    this.uniqueParts = plan.otherUniqueKeys.map((index) => ({ index, parts: index.columns.map((c) => part(c, index.functional)) }));
    plan.columns.forEach((c, i) => {
      if (c.kind === "json") this.jsonTemporals.set(i, this.extra.push(jsonTemporalsSql(c)) - 1);
    });
  }

  /** The literal for written column `i` of a source row (key token first, then the columns, then `extra`). */
  private literal(row: (Buffer | null)[], i: number): string {
    const col = this.plan.columns[i];
    const t = this.jsonTemporals.get(i);
    return t === undefined ? valueLiteral(col, row[i + 1]) : jsonLiteral(col, row[i + 1], row[1 + this.plan.columns.length + t]);
  }

  get strategy(): "upsert" | "delete-insert" {
    return this.deleteInsert ? "delete-insert" : "upsert";
  }

  /** Applies a chunk; `beforeCommit` records the counts (resume state) while the transaction is still open. */
  async apply(c: ChunkComparison, beforeCommit: (counts: ApplyCounts) => Promise<void>): Promise<ApplyCounts> {
    const counts: ApplyCounts = { inserted: 0, updated: 0, deleted: 0, displaced: 0 };
    try {
      await this.writer.query("START TRANSACTION");
      counts.deleted = c.extra === "all" ? await this.exec(deleteSql(this.plan, rangePredicate(this.plan, c.range))) : await this.deleteKeys(c.extra);
      if (this.deleteInsert) await this.deleteKeys(c.changed);
      await this.writeRows(c, counts);
      await beforeCommit(counts);
      await this.writer.query("COMMIT");
      return counts;
    } catch (e) {
      await this.writer.query("ROLLBACK").catch(() => undefined);
      if (e instanceof RollbackError) throw e;
      throw new RollbackError("SYNC_WRITE", this.plan.table, `writing a chunk failed and was rolled back: ${messageOf(e)}`, "fix the cause and rerun sync: it resumes");
    }
  }

  private async exec(sql: string): Promise<number> {
    const [r] = await this.writer.query<ResultSetHeader>(sql);
    return r.affectedRows;
  }

  private async deleteKeys(keys: readonly KeyToken[]): Promise<number> {
    let n = 0;
    for (const b of batches(keys, KEYS_PER_STATEMENT)) n += await this.exec(deleteSql(this.plan, keysPredicate(this.plan, b)));
    return n;
  }

  /** Streams the rows to write from the source (by key, or by range when the target has none there). */
  private async writeRows(c: ChunkComparison, counts: ApplyCounts): Promise<void> {
    const changed = idSet(c.changed);
    const wheres =
      c.missing === "all"
        ? [rangePredicate(this.plan, c.range)]
        : batches([...c.missing, ...c.changed], KEYS_PER_STATEMENT).map((b) => keysPredicate(this.plan, b));
    const head = insertHead(this.plan);
    const tail = this.deleteInsert ? "" : upsertTail(this.plan);
    let tuples: string[] = [];
    let rowsOfBatch: (Buffer | null)[][] = [];
    let bytes = head.length + tail.length;
    const flush = async () => {
      if (!tuples.length) return;
      counts.displaced += await this.displace(rowsOfBatch);
      await this.exec(head + tuples.join(",") + tail);
      tuples = [];
      rowsOfBatch = [];
      bytes = head.length + tail.length;
    };
    const { statementBytes } = this.budget;
    // Wide values are left out of the row read (NULL, with their LENGTH after the extras).
    const wide = this.plan.columns.flatMap((c, i) => (PIECEWISE.has(c.kind) ? [i] : []));
    const cap = { columns: new Set(wide.map((i) => this.plan.columns[i].name)), bytes: this.budget.bigValueBytes };
    const lengthAt = 1 + this.plan.columns.length + this.extra.length;
    const bigOf = (row: (Buffer | null)[]) => {
      const lengths: (number | null)[] = this.plan.columns.map(() => null);
      wide.forEach((i, j) => {
        if (row[i + 1] === null && row[lengthAt + j] !== null) lengths[i] = Number(String(row[lengthAt + j]));
      });
      return { big: bigColumns(this.plan.columns, lengths, this.budget), lengths };
    };
    const add = async (row: (Buffer | null)[], big: readonly number[]) => {
      const tuple = `(${this.plan.columns.map((c, i) => (big.includes(i) ? variableValue(c, pieceVariable(i)) : this.literal(row, i))).join(",")})`;
      if (tuple.length + head.length + tail.length > statementBytes) {
        throw new RollbackError(
          "ROW_TOO_LARGE",
          this.plan.table,
          `a row is ${tuple.length} bytes as SQL without its text and BLOB values above ${this.budget.bigValueBytes} bytes, more than one statement may be (${statementBytes} bytes)`,
          "its numeric, temporal, JSON or spatial columns are too large to send; raise max_allowed_packet on the target",
        );
      }
      if (bytes + tuple.length + 1 > statementBytes) await flush();
      tuples.push(tuple);
      if (this.uniqueParts.length) rowsOfBatch.push(row.slice(1));
      bytes += tuple.length + 1;
      if (changed.has(String(row[0]))) counts.updated++;
      else counts.inserted++;
    };
    for (const where of wheres) {
      const deferred: { row: (Buffer | null)[]; big: number[]; lengths: (number | null)[] }[] = [];
      for await (const row of streamRaw(this.source, selectRowsSql(this.plan, where, this.extra, cap))) {
        const { big, lengths } = bigOf(row);
        if (big.length) deferred.push({ row, big, lengths });
        else await add(row, []);
      }
      // A wide row travels alone once the stream has ended (its pieces are read on the same
      // session): its values into session variables, piece by piece, then a one-row INSERT.
      for (const { row, big, lengths } of deferred) {
        await flush();
        let present = true;
        for (const i of big) present = present && (await this.sendPieces(row, i, lengths[i]!));
        // The source row changed since the read (deleted, or the value shrank to NULL): the
        // verify after the pass finds it and the next pass writes it as it is then.
        if (present) await add(row, big);
        await flush();
        await this.exec(clearVariablesSql(big.map(pieceVariable)));
      }
    }
    await flush();
  }

  /**
   * Copies one wide value of a source row into a session variable on the target: SUBSTRING
   * pieces of at most statementBytes (a text piece counts characters, at most 4 bytes each)
   * read from the source, each sent as a binary parameter, then the length proven (a value
   * above max_allowed_packet would become NULL on the server instead of failing). Only one
   * piece is in memory at a time. False when the source has no such value any more.
   */
  private async sendPieces(row: (Buffer | null)[], i: number, length: number): Promise<boolean> {
    const c = this.plan.columns[i];
    const tooLarge = (bytes: number) =>
      new RollbackError(
        "ROW_TOO_LARGE",
        `${this.plan.table}.${c.name}`,
        `a value is ${bytes} bytes or more; the target's max_allowed_packet allows ${this.budget.valueBytes} bytes for one value`,
        `raise max_allowed_packet on the target above ${bytes + PACKET_MARGIN} bytes`,
      );
    if (length > this.budget.valueBytes) throw tooLarge(length);
    const where = keysPredicate(this.plan, [parseKeyToken(String(row[0]))]);
    const name = pieceVariable(i);
    const step = c.kind === "text" ? Math.floor(this.budget.statementBytes / 4) : this.budget.statementBytes;
    let sent = 0;
    for (let pos = 1; ; pos += step) {
      const [r] = await rawRows(this.source, valuePieceSql(this.plan, c, where, pos, step));
      const piece = r?.[0];
      if (!piece) return false;
      if (!piece.length) break;
      sent += piece.length;
      if (sent > this.budget.valueBytes) throw tooLarge(sent);
      await this.writer.execute(setPieceSql(name, pos === 1), [piece]);
      if (c.kind !== "text" && piece.length < step) break;
    }
    const [[v]] = await this.writer.query<(RowDataPacket & { n: string | null })[]>(variableLengthSql(name));
    if (Number(v.n) !== sent) {
      throw new RollbackError("ROW_TOO_LARGE", `${this.plan.table}.${c.name}`, `the target kept ${v.n ?? "NULL"} of a value's ${sent} bytes`, "raise max_allowed_packet on the target");
    }
    return true;
  }

  /** Deletes target rows that hold another unique key's value one of these incoming rows needs. */
  private async displace(rows: (Buffer | null)[][]): Promise<number> {
    let n = 0;
    const width = this.plan.columns.length;
    const valueOf = (r: (Buffer | null)[], p: UniquePart) => ("column" in p ? r[p.position] : r[width + p.extra]);
    for (const { parts } of this.uniqueParts) {
      // A NULL in a unique key collides with nothing.
      const conds = rows
        .filter((r) => parts.every((p) => valueOf(r, p) !== null))
        .map((r) => `(${parts.map((p) => partCondition(p, valueOf(r, p)!)).join(" AND ")})`);
      for (const b of batches(conds, KEYS_PER_STATEMENT)) n += await this.exec(deleteSql(this.plan, b.join(" OR ")));
    }
    return n;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * `part = value` on the target. A written column compares under its own type and collation.
 * An expression's type is not in information_schema (a functional part is a hidden column), so
 * its value is compared as a binary string (numbers then compare as numbers, strings byte for
 * byte) and, when the bytes are UTF-8, also as text in the expression's collation, where
 * 'A' = 'a' collides in a _ci unique index. Matching too much only displaces a row that its
 * own chunk writes back; matching too little would be a Duplicate entry error.
 */
function partCondition(p: UniquePart, value: Buffer): string {
  if ("column" in p) return `${ident(p.column.name)} = ${valueLiteral(p.column, value)}`;
  const hex = value.toString("hex");
  let text = true;
  try {
    utf8.decode(value);
  } catch {
    text = false;
  }
  return text ? `(${p.sql} = _binary X'${hex}' OR ${p.sql} = _utf8mb4 X'${hex}')` : `${p.sql} = _binary X'${hex}'`;
}
