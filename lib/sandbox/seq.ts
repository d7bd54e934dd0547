/**
 * The integers from..to (at most a million of them) as a derived table `seq(seq)`, on both
 * flavours: MariaDB's SEQUENCE engine (seq_1_to_N) does not exist on MySQL. Two cross-joined
 * recursive CTEs of 1000 rows: MySQL's cte_max_recursion_depth defaults to 1000, and MariaDB
 * names that limit differently (max_recursive_iterations).
 */
export function seq(from: number, to: number): string {
  if (to - from >= 1_000_000) throw new Error(`seq(${from}, ${to}): at most 1,000,000 values`);
  return `(WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 999)
    SELECT ${from} + a.i + 1000 * b.i AS seq FROM d a CROSS JOIN d b WHERE ${from} + a.i + 1000 * b.i <= ${to}) seq`;
}
