import { ident } from "../mysql";
import type { IntegrityFinding } from "./report";
import { Side, rows } from "./session";
import type { ForeignKeyInfo, TableSchema } from "./types";

/**
 * The integrity check after a sync with foreign_key_checks off: for every foreign key that
 * touches a synced table, count child rows whose parent does not exist, on both servers.
 * A difference means the target's references are broken where the source's are not (for
 * example a child table synced without its parent): the sync does not report success.
 */
function orphansSql(fk: ForeignKeyInfo): string {
  // MATCH SIMPLE: a reference with any NULL column is not checked by InnoDB either.
  const notNull = fk.columns.map((c) => `c.${ident(c)} IS NOT NULL`).join(" AND ");
  const join = fk.columns.map((c, i) => `p.${ident(fk.parentColumns[i])} = c.${ident(c)}`).join(" AND ");
  return `SELECT COUNT(*) AS n FROM ${ident(fk.table)} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${ident(fk.parentTable)} p WHERE ${join})`;
}

export async function checkIntegrity(source: Side, target: Side, schemas: readonly TableSchema[], synced: ReadonlySet<string>): Promise<IntegrityFinding[]> {
  const findings: IntegrityFinding[] = [];
  for (const fk of schemas.flatMap((t) => t.foreignKeys)) {
    if (!synced.has(fk.table) && !synced.has(fk.parentTable)) continue;
    const sql = orphansSql(fk);
    const [[s], [t]] = await Promise.all([rows<{ n: string }>(source.reader, sql), rows<{ n: string }>(target.reader, sql)]);
    const sourceOrphans = Number(s.n);
    const targetOrphans = Number(t.n);
    if (sourceOrphans !== targetOrphans) {
      findings.push({ constraint: fk.name, table: fk.table, parentTable: fk.parentTable, sourceOrphans, targetOrphans });
    }
  }
  return findings;
}
