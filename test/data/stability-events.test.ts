import { describe, expect, it } from "vitest";
import { BINARY_LOGS_SQL, BINLOG_FORMAT_SQL, binlogEventsSql } from "../../lib/data/sql";
import { Scope, eventTouches } from "../../lib/data/stability";

/**
 * The scoped proof's reading of SHOW BINLOG EVENTS rows (pure): the event texts are the ones
 * MariaDB 10.11 and MySQL 9.7 print (seen in test/data/scoped-proof.test.ts's servers).
 */
const table: Scope = { database: "app", tables: new Set(["live"]), transactional: true };
const database: Scope = { database: "app", tables: "database", transactional: true };

describe("eventTouches", () => {
  it("attributes row events through their Table_map, by schema and table", () => {
    expect(eventTouches("Table_map", "table_id: 106 (app.live)", table)).toBe(true);
    expect(eventTouches("Table_map", "table_id: 18 (APP.Live)", table)).toBe(true);
    expect(eventTouches("Table_map", "table_id: 107 (app.other)", table)).toBe(false);
    expect(eventTouches("Table_map", "table_id: 108 (other.live)", table)).toBe(false);
    expect(eventTouches("Table_map", "table_id: 109 (application.live)", table)).toBe(false);
    expect(eventTouches("Table_map", "table_id: 107 (app.other)", database)).toBe(true);
    expect(eventTouches("Write_rows", "table_id: 106 flags: STMT_END_F USE_SQL_FOREIGN_KEY_F", table)).toBe(false);
    expect(eventTouches("Update_rows_v1", "table_id: 18 flags: STMT_END_F", table)).toBe(false);
  });

  it("ignores transaction framing and bookkeeping events", () => {
    for (const [type, info] of [
      ["Gtid", "SET @@SESSION.GTID_NEXT= 'ed1debb5-edca-11f1-9718-02fc00000001:5'"],
      ["Gtid", "BEGIN GTID 0-1-5"],
      ["Query", "BEGIN"],
      ["Query", "COMMIT"],
      ["Xid", "COMMIT /* xid=14 */"],
      ["Annotate_rows", "UPDATE live SET v = 1"],
      ["Rotate", "binlog.000002;pos=4"],
      ["Format_desc", "Server ver: 9.7.4, Binlog ver: 4"],
    ]) {
      expect(eventTouches(type, info, table), `${type} ${info}`).toBe(false);
    }
  });

  it("counts what it cannot attribute as a write: statements, DDL, compressed or unknown events", () => {
    expect(eventTouches("Query", "use `other`; INSERT INTO log VALUES (1)", table)).toBe(true);
    expect(eventTouches("Query", "use `app`; ALTER TABLE live ADD COLUMN w INT", table)).toBe(true);
    expect(eventTouches("Transaction_payload", "compression='ZSTD', decompressed_size=200 bytes", table)).toBe(true);
    expect(eventTouches("Incident", "#1 (LOST_EVENTS)", table)).toBe(true);
    expect(eventTouches("Table_map", "garbled", table)).toBe(true);
  });
});

describe("stability SQL", () => {
  it("reads one page of events from a position, quoting the file name", () => {
    expect(binlogEventsSql("binlog.000001", 963, 1000)).toBe("SHOW BINLOG EVENTS IN 'binlog.000001' FROM 963 LIMIT 1000");
    expect(binlogEventsSql("it's\\x", 4, 1)).toBe("SHOW BINLOG EVENTS IN 'it\\'s\\\\x' FROM 4 LIMIT 1");
    expect(BINARY_LOGS_SQL).toBe("SHOW BINARY LOGS");
    expect(BINLOG_FORMAT_SQL).toBe("SELECT @@global.binlog_format AS f");
  });
});
