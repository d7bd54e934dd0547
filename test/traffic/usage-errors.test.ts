import { describe, expect, it } from "vitest";
import { numberFlag } from "../../lib/cli";
import { runScript } from "./support";

/** Usage errors exit 2 and name the flag, in every script, through lib/cli.ts numberFlag. */
describe("usage errors: out-of-range numbers and nothing to decide", () => {
  it.each([
    ["health", ["--disk", "/", "--min-disk-free-pct", "200", "--json"], "--min-disk-free-pct", /from 0 to 100, got "200"/],
    ["health", ["--http", "http://127.0.0.1:1/", "--expect-status", "42", "--json"], "--expect-status", /from 100 to 599/],
    ["idc-mysql", ["check", "--container", "idc-mysql", "--timeout=-5", "--json"], "--timeout", /got "-5"/],
    ["drain", ["--timeout=-1", "--json"], "--timeout", /got "-1"/],
    ["decide", ["--mismatch-pct", "150", "--json"], "--mismatch-pct", /from 0 to 100/],
    ["decide", ["--error-rate-pct=-1", "--json"], "--error-rate-pct", /got "-1"/],
  ])("%s %j: refused, exit 2, naming the flag", async (script, args, subject, problem) => {
    const r = await runScript(script, args, { DATABASE_URL: "mysql://u:p@127.0.0.1:1/db" });
    expect(r.code, r.stderr).toBe(2);
    expect(r.json.error.subject).toBe(subject);
    expect(r.json.error.problem).toMatch(problem);
  });

  it("decide with no measurement says it cannot decide (exit 2), never 'stay'", async () => {
    const r = await runScript("decide", ["--json"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.json.error).toMatchObject({ code: "NOTHING_MEASURED", subject: "measurements" });
    expect(r.stderr).toMatch(/cannot decide/);
    expect(r.stderr).not.toMatch(/stay/);
  });

  it("numberFlag: empty text, NaN and both ends of the range", () => {
    expect(() => numberFlag("", "x", 1)).toThrow(/--x: expected a number >= 0, got ""/);
    expect(() => numberFlag("ten", "x", 1)).toThrow(/--x/);
    expect(numberFlag("100", "pct", 0, 0, 100)).toBe(100);
    expect(() => numberFlag("100.5", "pct", 0, 0, 100)).toThrow(/--pct: expected a number from 0 to 100/);
    expect(numberFlag(undefined, "pct", 7, 0, 100)).toBe(7);
  });
});
