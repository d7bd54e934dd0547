import { describe, expect, it } from "vitest";
import { describeDsn, dsnFromEnv, formatDsn, parseDsn, sslMode } from "../../lib/dsn";

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

describe("TLS parameters in database URLs", () => {
  it("reads ssl-mode, ssl-ca, ssl-cert and ssl-key (MySQL's names), and round-trips them", () => {
    const d = parseDsn("mysql://app:pw@db:3306/shop?ssl-mode=verify_identity&ssl-ca=/etc/rds/global-bundle.pem", "AWS");
    expect(d.tls).toEqual({ mode: "VERIFY_IDENTITY", ca: "/etc/rds/global-bundle.pem" });
    expect(sslMode(d)).toBe("VERIFY_IDENTITY");
    expect(parseDsn(formatDsn(d), "X")).toEqual(d);
    const c = parseDsn("mysql://app:pw@db/shop?ssl-mode=REQUIRED&ssl-cert=/c.pem&ssl-key=/k.pem", "X");
    expect(c.tls).toEqual({ mode: "REQUIRED", cert: "/c.pem", key: "/k.pem" });
  });

  it("defaults to PREFERRED without parameters", () => {
    expect(sslMode(parseDsn("mysql://app:pw@db/shop", "X"))).toBe("PREFERRED");
  });

  it.each([
    ["mysql://app:secretpw@db/shop?sslmode=REQUIRED", /unknown URL parameter sslmode/],
    ["mysql://app:secretpw@db/shop?ssl-mode=REQUIRED&charset=latin1", /unknown URL parameter charset/],
    ["mysql://app:secretpw@db/shop?ssl-mode=ON", /ssl-mode must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY/],
    ["mysql://app:secretpw@db/shop?ssl-cert=/c.pem", /ssl-cert and ssl-key go together/],
    ["mysql://app:secretpw@db/shop?ssl-mode=DISABLED&ssl-ca=/ca.pem", /DISABLED with certificate files/],
  ])("refuses %s naming the variable and the parameter, never the password", (url, problem) => {
    expect(() => parseDsn(url, "SOURCE_DATABASE_URL")).toThrow(problem);
    try {
      parseDsn(url, "SOURCE_DATABASE_URL");
    } catch (e) {
      expect((e as Error).message).toMatch(/^DSN_INVALID: SOURCE_DATABASE_URL: /);
      expect((e as Error).message).not.toContain("secretpw");
    }
  });
});
