import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPreflight } from "../../lib/preflight";
import { inputs } from "./fixture";

/**
 * The docker check with the real docker CLI, on the errors a running engine cannot produce: a
 * host that does not answer, a CLI that is missing. The passing path and an unknown container
 * run against real podman in docker-podman.test.ts.
 */
describe("preflight: docker host", () => {
  it("reports a docker host that does not answer, naming the host", async () => {
    const r = await runPreflight(inputs({ idcMysql: { ...inputs().idcMysql, dockerHost: "unix:///nonexistent/docker.sock" } }), { env: {}, only: ["docker"] });
    const p = r.checks[0].problems;
    expect(p.map((x) => `${x.code} ${x.subject}`)).toEqual(["DOCKER_UNAVAILABLE rollback:idcMysql.dockerHost unix:///nonexistent/docker.sock"]);
    expect(p[0].problem).toMatch(/^the docker host does not answer: docker --host unix:\/\/\/nonexistent\/docker.sock version --format \{\{.Server.Version\}\}: exit 1/);
  });

  it("reports a missing docker CLI", async () => {
    const r = await runPreflight(inputs(), { env: {}, only: ["docker"], dockerBin: "/nonexistent/docker" });
    expect(r.checks[0].problems[0].problem).toContain("/nonexistent/docker: command not found");
  });
});

describe("preflight: backups", () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), "preflight-backups-"))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("passes when one path exists and says which are missing", async () => {
    const c = (await runPreflight(inputs({ backupPaths: ["/nonexistent/latest", dir] }), { env: {}, only: ["backups"] })).checks[0];
    expect(c.status).toBe("pass");
    expect(c.evidence).toEqual(["/nonexistent/latest: missing", `1 of 2 backup path(s) exist: ${dir}`]);
  });

  it("fails when none exists", async () => {
    const c = (await runPreflight(inputs({ backupPaths: ["/nonexistent/a", "/nonexistent/b"] }), { env: {}, only: ["backups"] })).checks[0];
    expect(c.problems.map((p) => p.message)).toEqual([
      "BACKUP_MISSING: rollback:runbook.backupPaths: none of the 2 path(s) exists: /nonexistent/a, /nonexistent/b (fix the paths, or take a backup now (scripts/backup.ts create))",
    ]);
  });
});
