import type { Connection, ResultSetHeader } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { ident } from "../mysql";
import type { ChunkComparison } from "./compare";
import { idSet } from "./row-diff";
import { streamRaw } from "./session";
import { deleteSql, insertHead, keysPredicate, rangePredicate, selectRowsSql, upsertTail } from "./sql";
import type { IndexInfo, KeyToken, TablePlan } from "./types";
import { valueLiteral } from "./values";

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

function batches<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export class Applier {
  private readonly deleteInsert: boolean;
  private readonly uniqueColumns: { index: IndexInfo; positions: number[] }[];

  constructor(
    /** A source session of its own: the comparison of the next chunk runs on the readers meanwhile. */
    private readonly source: Connection,
    private readonly writer: Connection,
    private readonly plan: TablePlan,
    /** Largest INSERT sent, below the target's max_allowed_packet. */
    private readonly maxStatementBytes: number,
  ) {
    this.deleteInsert = plan.otherUniqueKeys.length > 0;
    const pos = new Map(plan.columns.map((c, i) => [c.name, i]));
    this.uniqueColumns = plan.otherUniqueKeys
      .filter((u) => u.columns.every((c) => pos.has(c)))
      .map((index) => ({ index, positions: index.columns.map((c) => pos.get(c)!) }));
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
    for (const where of wheres) {
      for await (const row of streamRaw(this.source, selectRowsSql(this.plan, where))) {
        const tuple = `(${this.plan.columns.map((col, i) => valueLiteral(col, row[i + 1])).join(",")})`;
        if (tuple.length + head.length + tail.length > this.maxStatementBytes) {
          throw new RollbackError(
            "ROW_TOO_LARGE",
            this.plan.table,
            `a row is ${tuple.length} bytes as SQL, more than the target accepts in one statement`,
            "raise max_allowed_packet on the target",
          );
        }
        if (bytes + tuple.length + 1 > this.maxStatementBytes) await flush();
        tuples.push(tuple);
        if (this.uniqueColumns.length) rowsOfBatch.push(row.slice(1));
        bytes += tuple.length + 1;
        if (changed.has(String(row[0]))) counts.updated++;
        else counts.inserted++;
      }
    }
    await flush();
  }

  /** Deletes target rows that hold another unique key's value one of these incoming rows needs. */
  private async displace(rows: (Buffer | null)[][]): Promise<number> {
    let n = 0;
    for (const { index, positions } of this.uniqueColumns) {
      // A NULL in a unique key collides with nothing.
      const conds = rows
        .filter((r) => positions.every((p) => r[p] !== null))
        .map((r) => `(${positions.map((p, i) => `${ident(index.columns[i])} = ${valueLiteral(this.plan.columns[p], r[p])}`).join(" AND ")})`);
      for (const b of batches(conds, KEYS_PER_STATEMENT)) n += await this.exec(deleteSql(this.plan, b.join(" OR ")));
    }
    return n;
  }
}
