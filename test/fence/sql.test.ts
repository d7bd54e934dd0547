import { describe, expect, it } from "vitest";
import { hostMatches, parseUsers } from "../../lib/fence/accounts";
import { FENCE_SQL } from "../../lib/fence/sql";

describe("fence statements and account names (pure)", () => {
  it("sends exactly these statements; account names only as parameters", () => {
    expect(FENCE_SQL).toEqual({
      accountsOf: "SELECT User AS user, Host AS host FROM mysql.user WHERE User = ?",
      showCreateUser: "SHOW CREATE USER ?@?",
      lock: "ALTER USER ?@? ACCOUNT LOCK",
      unlock: "ALTER USER ?@? ACCOUNT UNLOCK",
      readOnly: "SELECT @@global.read_only AS readOnly",
      superReadOnly: "SELECT @@global.super_read_only AS superReadOnly",
      lockWaitTimeout: "SET SESSION lock_wait_timeout = ?",
      setReadOnly: "SET GLOBAL read_only = ?",
      setSuperReadOnly: "SET GLOBAL super_read_only = ?",
    });
  });

  it("reads --users as names (every host entry) or name@host; the last @ splits", () => {
    expect(parseUsers(["app", "worker@10.0.%", "odd@name@localhost"])).toEqual([
      { name: "app" },
      { name: "worker", host: "10.0.%" },
      { name: "odd@name", host: "localhost" },
    ]);
    expect(() => parseUsers([])).toThrow(/ARGS_MISSING: --users/);
    expect(() => parseUsers(["app@"])).toThrow(/ARGS_INVALID: --users: "app@" is not name or name@host/);
  });

  it("matches a session's client host the way MySQL matches a Host entry", () => {
    expect(hostMatches("%", "10.1.2.3")).toBe(true);
    expect(hostMatches("10.0.%", "10.0.7.1")).toBe(true);
    expect(hostMatches("10.0.%", "10.1.7.1")).toBe(false);
    expect(hostMatches("10.0.0._", "10.0.0.7")).toBe(true);
    expect(hostMatches("10.0.0.1", "10.0.0.10")).toBe(false);
    expect(hostMatches("127.0.0.1", "localhost")).toBe(true);
  });
});
