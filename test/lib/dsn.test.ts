import { describe, expect, it } from "vitest";
import { describeDsn, dsnFromEnv, formatDsn, parseDsn } from "../../lib/dsn";

describe("database URLs", () => {
  it("parses user, password, host, port and database, percent-decoded", () => {
    const d = parseDsn("mysql://app:p%40ss%3Aw0rd@db.idc.local:3307/shop", "IDC");
    expect(d).toEqual({ host: "db.idc.local", port: 3307, user: "app", password: "p@ss:w0rd", database: "shop" });
  });

  it("round-trips through formatDsn, passwords with special characters included", () => {
    const d = { host: "10.0.0.5", port: 3306, user: "rollback", password: "a/b?c#d@e", database: "app" };
    expect(parseDsn(formatDsn(d), "X")).toEqual(d);
  });

  it("never prints the password when describing a server", () => {
    const d = parseDsn("mysql://app:hunter22@h:3306/db", "X");
    expect(describeDsn(d)).toBe("app@h:3306/db");
  });

  it.each([
    ["not a url", /not a URL/],
    ["postgres://u:p@h:5432/db", /scheme must be mysql/],
    ["mysql://u:p@h:3306/", /no database name/],
  ])("refuses %s with an error naming the variable, not the value", (value, problem) => {
    expect(() => parseDsn(value, "SOURCE_DATABASE_URL")).toThrow(problem);
    try {
      parseDsn(value, "SOURCE_DATABASE_URL");
    } catch (e) {
      expect((e as Error).message).toContain("SOURCE_DATABASE_URL");
      expect((e as Error).message).not.toContain(":p@");
    }
  });

  it("says which environment variable is missing", () => {
    expect(() => dsnFromEnv("TARGET_DATABASE_URL", {})).toThrow(/TARGET_DATABASE_URL: environment variable is not set/);
  });
});
