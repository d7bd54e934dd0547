/**
 * Shapes shared by the data engine's modules: what a table looks like on one server,
 * how its key is compared, and what a chunk of it is.
 */

/** Which server a value or statement belongs to. `source` is read, `target` is made equal to it. */
export type SideName = "source" | "target";

/**
 * How a column's value is hashed, read and written. Decided once from its type so every
 * SQL builder treats it the same way.
 */
export type ColumnKind =
  | "integer" // TINYINT..BIGINT, YEAR: decimal text, exact
  | "decimal" // DECIMAL/NUMERIC: fixed-scale text, exact
  | "float" // FLOAT: the server prints 6 digits; read as CAST(... AS DOUBLE), which is exact
  | "double" // DOUBLE: the server prints the shortest round-trip text
  | "bit" // BIT(n): raw bytes
  | "temporal" // DATE, DATETIME, TIMESTAMP, TIME: text (TIMESTAMP in the +00:00 session zone)
  | "text" // CHAR, VARCHAR, TEXT, ENUM, SET, MariaDB's JSON (a LONGTEXT): bytes in the column's character set
  | "json" // MySQL's JSON: its text, plus which scalars are strings (its DATE/TIME/DATETIME scalars print like strings)
  | "binary" // BINARY, VARBINARY, BLOB: raw bytes
  | "spatial" // GEOMETRY family: the server's internal bytes (SRID + WKB)
  | "unsupported"; // anything else: a table with such a column is refused up front

export interface ColumnInfo {
  readonly name: string;
  /** information_schema DATA_TYPE, lower case (`varchar`). */
  readonly dataType: string;
  /** Full COLUMN_TYPE (`varchar(64)`, `decimal(30,10) unsigned`). */
  readonly columnType: string;
  readonly kind: ColumnKind;
  readonly nullable: boolean;
  readonly charset: string | null;
  readonly collation: string | null;
  /**
   * Virtual or stored generated columns are never written and not hashed (derived from the
   * others). An expression DEFAULT (MySQL's DEFAULT_GENERATED) is not one (lib/flavor.ts).
   */
  readonly generated: boolean;
  readonly generationExpression: string | null;
  /** `on update current_timestamp` and similar; used to pick the last-update column. */
  readonly extra: string;
}

export interface IndexInfo {
  readonly name: string;
  readonly unique: boolean;
  /** One per key part: the column name, or for a functional key part (MySQL 8.0.13+) its expression, "(`v` * 1)". */
  readonly columns: readonly string[];
  /** True when any key part is an expression: not a chunking key; collisions are found by evaluating it. */
  readonly functional: boolean;
  /** True when any column is indexed by a prefix (`KEY (c(10))`): unusable as a chunking key. */
  readonly prefix: boolean;
  /**
   * INVISIBLE (MySQL) or IGNORED (MariaDB): the optimizer may not use it and FORCE INDEX on it
   * fails ("Key 'x' doesn't exist"), so it is never a chunking key. Its uniqueness still holds.
   */
  readonly hidden: boolean;
}

export interface ForeignKeyInfo {
  readonly name: string;
  readonly table: string;
  readonly columns: readonly string[];
  readonly parentTable: string;
  readonly parentColumns: readonly string[];
}

/** One table as introspected on one server. */
export interface TableSchema {
  readonly name: string;
  readonly engine: string | null;
  readonly collation: string | null;
  readonly autoIncrement: number | null;
  /** information_schema TABLE_ROWS: an estimate, used only for progress ETA. */
  readonly estimatedRows: number;
  readonly columns: readonly ColumnInfo[];
  readonly indexes: readonly IndexInfo[];
  readonly foreignKeys: readonly ForeignKeyInfo[];
  readonly triggers: readonly string[];
}

/** The columns that identify a row: the primary key, or a unique key whose columns are all NOT NULL. */
export interface KeyChoice {
  readonly index: string;
  readonly columns: readonly ColumnInfo[];
}

/**
 * A key value as canonical text, one part per key column, never containing ",":
 * numbers and temporals as the server prints them, strings and binaries as hex of their bytes.
 * Two rows have the same token exactly when their key bytes are equal.
 */
export type KeyToken = readonly string[];

/** A half-open key range `[from, to)`; a missing bound is open. */
export interface KeyRange {
  readonly from?: KeyToken;
  readonly to?: KeyToken;
}

/** Everything the SQL builders need to know about one table, decided from both sides' schemas. */
export interface TablePlan {
  readonly table: string;
  readonly key: KeyChoice;
  /** Non-generated columns present on both sides, in source order: hashed, read and written. */
  readonly columns: readonly ColumnInfo[];
  /** Text columns whose character set differs between the sides: hashed after conversion to utf8mb4. */
  readonly convertColumns: ReadonlySet<string>;
  /** Unique keys other than `key`: their values can collide during a sync, see applier.ts. */
  readonly otherUniqueKeys: readonly IndexInfo[];
  /** A temporal column that records the last update (`updated_at`, `ON UPDATE CURRENT_TIMESTAMP`). */
  readonly updateColumn: ColumnInfo | null;
}
