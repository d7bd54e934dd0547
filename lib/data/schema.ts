import type { Connection, RowDataPacket } from "mysql2/promise";
import { hiddenIndexCondition, indexExpressionColumn, isGeneratedColumn, readServerInfo } from "../flavor";
import type { ColumnInfo, ForeignKeyInfo, IndexInfo, TableSchema } from "./types";
import { columnKind } from "./values";

/**
 * Reads every base table of one database from information_schema: six queries per server,
 * whatever the number of tables.
 */
export async function readSchema(conn: Connection, database: string): Promise<Map<string, TableSchema>> {
  const q = async (sql: string) => (await conn.query<RowDataPacket[]>(sql, [database]))[0];
  const server = await readServerInfo(conn);
  const [tables, columns, stats, fks, triggers] = await Promise.all([
    q(
      `SELECT TABLE_NAME AS name, ENGINE AS engine, TABLE_COLLATION AS collation, AUTO_INCREMENT AS ai, TABLE_ROWS AS est
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`,
    ),
    q(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType,
              IS_NULLABLE AS nullable, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation,
              EXTRA AS extra, GENERATION_EXPRESSION AS expr
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    ),
    q(
      `SELECT TABLE_NAME AS t, INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col, SUB_PART AS sub,
              ${indexExpressionColumn(server)} AS expr, ${hiddenIndexCondition(server)} AS hidden
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    ),
    q(
      `SELECT TABLE_NAME AS t, CONSTRAINT_NAME AS name, COLUMN_NAME AS col,
              REFERENCED_TABLE_NAME AS parent, REFERENCED_COLUMN_NAME AS parentCol
       FROM information_schema.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL
       ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`,
    ),
    q(`SELECT EVENT_OBJECT_TABLE AS t, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?`),
  ]);

  const byTable = <T>(rows: RowDataPacket[], map: (r: RowDataPacket) => T) => {
    const m = new Map<string, T[]>();
    for (const r of rows) {
      const list = m.get(r.t) ?? [];
      list.push(map(r));
      m.set(r.t, list);
    }
    return m;
  };

  const cols = byTable(columns, (r): ColumnInfo => {
    const extra = String(r.extra ?? "");
    // MySQL's EXTRA says DEFAULT_GENERATED for an expression DEFAULT (CURRENT_TIMESTAMP,
    // (UUID())): such a column holds its own data. Only the exact generated words count.
    const generated = isGeneratedColumn(extra);
    return {
      name: r.name,
      dataType: String(r.dataType).toLowerCase(),
      columnType: String(r.columnType).toLowerCase(),
      kind: columnKind(String(r.dataType)),
      nullable: r.nullable === "YES",
      charset: r.charset ?? null,
      collation: r.collation ?? null,
      generated,
      generationExpression: generated && r.expr ? String(r.expr) : null,
      extra,
    };
  });

  const idx = new Map<string, IndexInfo[]>();
  for (const [t, rows] of byTable(stats, (r) => r)) {
    const byName = new Map<string, RowDataPacket[]>();
    for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    idx.set(
      t,
      [...byName].map(([name, parts]) => ({
        name,
        unique: Number(parts[0].nonUnique) === 0,
        columns: parts.map((p) => p.col ?? String(p.expr)),
        functional: parts.some((p) => p.col === null),
        prefix: parts.some((p) => p.sub !== null),
        hidden: Number(parts[0].hidden) === 1,
      })),
    );
  }

  const fkMap = new Map<string, ForeignKeyInfo[]>();
  for (const [t, rows] of byTable(fks, (r) => r)) {
    const byName = new Map<string, RowDataPacket[]>();
    for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    fkMap.set(
      t,
      [...byName].map(([name, parts]) => ({
        name,
        table: t,
        columns: parts.map((p) => p.col),
        parentTable: parts[0].parent,
        parentColumns: parts.map((p) => p.parentCol),
      })),
    );
  }

  const trg = byTable(triggers, (r) => String(r.name));

  const out = new Map<string, TableSchema>();
  for (const t of tables) {
    out.set(t.name, {
      name: t.name,
      engine: t.engine ?? null,
      collation: t.collation ?? null,
      autoIncrement: t.ai === null || t.ai === undefined ? null : Number(t.ai),
      estimatedRows: Number(t.est ?? 0),
      columns: cols.get(t.name) ?? [],
      indexes: idx.get(t.name) ?? [],
      foreignKeys: fkMap.get(t.name) ?? [],
      triggers: trg.get(t.name) ?? [],
    });
  }
  return out;
}
