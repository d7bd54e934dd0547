import { RollbackError } from "../errors";
import { ident } from "../mysql";
import type { ColumnInfo, ColumnKind, KeyToken } from "./types";

/**
 * How values travel: every row value is read as the raw bytes the server sends
 * (mysql2 `typeCast: false`) and written back as a literal built from those bytes,
 * so no value ever passes through a JS number, Date or JSON.parse.
 */

const KINDS: Record<string, ColumnKind> = {
  tinyint: "integer",
  smallint: "integer",
  mediumint: "integer",
  int: "integer",
  integer: "integer",
  bigint: "integer",
  year: "integer",
  decimal: "decimal",
  numeric: "decimal",
  float: "float",
  double: "double",
  real: "double",
  bit: "bit",
  date: "temporal",
  datetime: "temporal",
  timestamp: "temporal",
  time: "temporal",
  char: "text",
  varchar: "text",
  tinytext: "text",
  text: "text",
  mediumtext: "text",
  longtext: "text",
  enum: "text",
  set: "text",
  // MySQL's binary JSON; MariaDB reports its JSON columns as longtext.
  json: "json",
  binary: "binary",
  varbinary: "binary",
  tinyblob: "binary",
  blob: "binary",
  mediumblob: "binary",
  longblob: "binary",
  geometry: "spatial",
  point: "spatial",
  linestring: "spatial",
  polygon: "spatial",
  multipoint: "spatial",
  multilinestring: "spatial",
  multipolygon: "spatial",
  geometrycollection: "spatial",
};

/** The kind of a column from its information_schema DATA_TYPE (refusals.ts refuses "unsupported"). */
export function columnKind(dataType: string): ColumnKind {
  return KINDS[dataType.toLowerCase()] ?? "unsupported";
}

/**
 * Key columns must order and compare the same way in every range predicate. FLOAT/DOUBLE
 * keys are approximate, ENUM/SET order by index but compare by label, BLOB/TEXT keys are
 * prefixes: all of these would make chunk ranges overlap or leave gaps.
 */
export function keyProblem(c: ColumnInfo): string | null {
  if (c.kind === "integer" || c.kind === "decimal" || c.kind === "temporal" || c.kind === "binary") {
    return c.dataType.endsWith("blob") ? "BLOB key" : null;
  }
  if (c.kind === "text") {
    return c.dataType === "char" || c.dataType === "varchar" ? null : `${c.dataType.toUpperCase()} key`;
  }
  return `${c.dataType.toUpperCase()} key`;
}

const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const TEMPORAL_TEXT = /^-?[0-9: .-]+$/;
const HEX_TEXT = /^[0-9A-Fa-f]*$/;

/** The SQL that reads a column for a sync: FLOAT widened to DOUBLE, whose text is exact. */
export function readExpression(c: ColumnInfo): string {
  return c.kind === "float" ? `CAST(${ident(c.name)} AS DOUBLE)` : ident(c.name);
}

/**
 * A literal for a value read as raw bytes. Text is written as `_utf8mb4 X'..'`: the bytes
 * arrive in the connection character set (utf8mb4), the introducer makes the server convert
 * them into the column's set, and nothing needs escaping.
 */
export function valueLiteral(c: ColumnInfo, value: Buffer | null): string {
  if (value === null) return "NULL";
  switch (c.kind) {
    case "integer":
    case "decimal":
    case "float":
    case "double": {
      const text = value.toString("latin1");
      if (!NUMBER_TEXT.test(text)) throw new RollbackError("VALUE_INVALID", c.name, `unexpected numeric text "${text}"`);
      return text;
    }
    case "temporal": {
      const text = value.toString("latin1");
      if (!TEMPORAL_TEXT.test(text)) throw new RollbackError("VALUE_INVALID", c.name, `unexpected temporal text "${text}"`);
      return `'${text}'`;
    }
    case "text":
    case "json":
      return `_utf8mb4 X'${value.toString("hex")}'`;
    case "bit":
    case "binary":
    case "spatial":
      return `X'${value.toString("hex")}'`;
    case "unsupported":
      throw new RollbackError("COLUMN_UNSUPPORTED", c.name, `column type ${c.dataType} is not supported`);
  }
}

/**
 * A MySQL JSON value with its temporal scalars put back: the JSON text alone turns a DATETIME
 * scalar into a string that prints the same. `temporals` is what jsonTemporalsSql read on the
 * source ([path, JSON_TYPE, text] triples, as JSON text), or null when there are none.
 */
export function jsonLiteral(c: ColumnInfo, value: Buffer | null, temporals: Buffer | null): string {
  const doc = valueLiteral(c, value);
  if (value === null || temporals === null) return doc;
  const sets = (JSON.parse(temporals.toString("utf8")) as [string, string, string][]).map(([path, type, text]) => {
    if (!TEMPORAL_TEXT.test(text)) throw new RollbackError("VALUE_INVALID", c.name, `unexpected JSON temporal text "${text}"`);
    const sqlType = JSON_TEMPORAL_CAST[type];
    if (!sqlType) throw new RollbackError("VALUE_INVALID", c.name, `unexpected JSON temporal type ${type}`);
    return `_utf8mb4 X'${Buffer.from(path, "utf8").toString("hex")}', CAST('${text}' AS ${sqlType})`;
  });
  return `JSON_SET(CAST(${doc} AS JSON), ${sets.join(", ")})`;
}

/** JSON_TYPE of MySQL's temporal scalars → the cast that makes one (TIMESTAMP scalars report DATETIME). */
const JSON_TEMPORAL_CAST: Record<string, string> = { DATE: "DATE", TIME: "TIME(6)", DATETIME: "DATETIME(6)" };

/** SQL for one key column's token: text and binary as hex of the stored bytes, the rest as printed. */
export function keyTokenExpression(c: ColumnInfo): string {
  if (c.kind === "text") return `HEX(CAST(${ident(c.name)} AS BINARY))`;
  if (c.kind === "binary") return `HEX(${ident(c.name)})`;
  return ident(c.name);
}

/** All key columns' tokens in one `,`-separated string column (none of the parts contains a comma). */
export function keyTokenSelect(columns: readonly ColumnInfo[]): string {
  return columns.length === 1 ? `CONCAT(${keyTokenExpression(columns[0])})` : `CONCAT_WS(',', ${columns.map(keyTokenExpression).join(", ")})`;
}

export function parseKeyToken(text: string): KeyToken {
  return text.split(",");
}

/** The identity of a key inside one run: equal strings exactly when the key bytes are equal. */
export function keyId(token: KeyToken): string {
  return token.join(",");
}

/**
 * A literal for one part of a key token. Strings get their own column's character set as
 * introducer, so the comparison uses the column's collation and its index.
 */
export function keyLiteral(c: ColumnInfo, part: string): string {
  switch (c.kind) {
    case "integer":
    case "decimal":
      if (!NUMBER_TEXT.test(part)) throw new RollbackError("VALUE_INVALID", c.name, `unexpected key text "${part}"`);
      return part;
    case "temporal":
      if (!TEMPORAL_TEXT.test(part)) throw new RollbackError("VALUE_INVALID", c.name, `unexpected key text "${part}"`);
      return `'${part}'`;
    case "text":
      if (!HEX_TEXT.test(part)) throw new RollbackError("VALUE_INVALID", c.name, "unexpected key hex");
      return `_${c.charset ?? "utf8mb4"} X'${part}'`;
    case "binary":
      if (!HEX_TEXT.test(part)) throw new RollbackError("VALUE_INVALID", c.name, "unexpected key hex");
      return `X'${part}'`;
    default:
      throw new RollbackError("KEY_UNSUPPORTED", c.name, `${c.dataType} cannot be a chunking key`);
  }
}

/** A key as people read it in reports: `{ id: "42" }`, text decoded, binary as 0x… */
export function displayKey(columns: readonly ColumnInfo[], token: KeyToken): Record<string, string> {
  const out: Record<string, string> = {};
  columns.forEach((c, i) => {
    const part = token[i] ?? "";
    if (c.kind === "text") out[c.name] = Buffer.from(part, "hex").toString(c.charset === "latin1" ? "latin1" : "utf8");
    else if (c.kind === "binary") out[c.name] = `0x${part.toLowerCase()}`;
    else out[c.name] = part;
  });
  return out;
}
