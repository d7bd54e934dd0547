import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { runScript } from "../traffic/support";
import { inputs } from "./fixture";

/** scripts/preflight.ts as the runbook and a person start it: exit codes, one line per problem, --json. */
describe("scripts/preflight.ts", () => {
  it("exits 0 when the checks pass, 1 with one FAIL line per problem, and prints one JSON document", async () => {
    const ok = await runScript("preflight", ["--inputs-json", JSON.stringify(inputs({ backupPaths: [tmpdir()] })), "--only", "backups", "--json"]);
    expect(ok.code).toBe(0);
    expect(ok.json.ok).toBe(true);
    expect(ok.stderr.trim().split("\n")).toEqual([`ok   backups: 1 of 1 backup path(s) exist: ${tmpdir()}`, "preflight: 1 check(s) passed"]);

    const bad = await runScript("preflight", ["--inputs-json", JSON.stringify(inputs()), "--only", "backups,docker", "--json"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n").map((l) => l.split(":")[0])).toEqual(["FAIL docker", "FAIL backups", "preflight"]);
    expect(bad.json.checks.map((c: { problems: { code: string }[] }) => c.problems[0].code)).toEqual(["DOCKER_UNAVAILABLE", "BACKUP_MISSING"]);
  });

  it("exits 2 on bad input, naming the flag", async () => {
    const unknown = await runScript("preflight", ["--inputs-json", JSON.stringify(inputs()), "--only", "dns"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('ARGS_INVALID: --only: "dns" is not a check');
    const both = await runScript("preflight", ["--inputs-json", "{}", "--stack", "rollback"]);
    expect(both.stderr).toContain("give exactly one of --stack NAME and --inputs-json JSON");
    // The shipped stack file has no passwords set: pulumi up would refuse it, and so does preflight.
    const stack = await runScript("preflight", ["--stack", "rollback"]);
    expect(stack.code).toBe(2);
    expect(stack.stderr).toContain("CONFIG_INVALID: rollback:idc.password: is required");
    const field = await runScript("preflight", ["--inputs-json", JSON.stringify({ ...inputs(), backupPaths: [] })]);
    expect(field.stderr).toMatch(/ARGS_INVALID: --inputs-json backupPaths: /);
  });
});
