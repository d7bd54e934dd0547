import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../../lib/sandbox/free-port";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { ContainerState, parseContainerName, stateOf } from "../../lib/traffic/docker";
import { decideAction, restartIdcMysql } from "../../lib/traffic/idc-mysql";
import { runScript } from "./support";

/**
 * NO DOCKER ENGINE EXISTS ON THIS MACHINE (only the docker CLI, and no daemon to talk to).
 * These tests put a fake `docker` first on PATH (test/traffic/fixtures/bin/docker): it records
 * every call's argv and DOCKER_HOST, and replays scripted `docker inspect` output whose state
 * moves on after `docker restart`. MySQL itself is real: a sandbox server of each flavour stands in for the
 * server inside the container, so "wait until MySQL answers" is tested against a real server.
 */
const FAKE_BIN = join(__dirname, "fixtures", "bin");
let dir: string;

/** One element of `docker inspect` output, trimmed to what a mysql:8 container shows. */
function inspected(status: string, health?: string, failingStreak = 0): Record<string, unknown> {
  return {
    Id: "4f1c9a2b7d3e",
    Name: "/idc-mysql",
    RestartCount: 2,
    State: {
      Status: status,
      Running: status === "running",
      Paused: status === "paused",
      Restarting: status === "restarting",
      OOMKilled: false,
      Dead: status === "dead",
      Pid: status === "running" ? 4242 : 0,
      ExitCode: status === "exited" ? 137 : 0,
      Error: "",
      StartedAt: "2030-01-01T00:00:00.000000000Z",
      FinishedAt: "0001-01-01T00:00:00Z",
      ...(health
        ? { Health: { Status: health, FailingStreak: failingStreak, Log: [{ Start: "2030-01-01T00:00:05Z", ExitCode: health === "healthy" ? 0 : 1, Output: health === "healthy" ? "mysqld is alive\n" : "mysqladmin: connect to server at 'localhost' failed\n" }] } }
        : {}),
    },
    Config: { Image: "mysql:8.0" },
  };
}

async function scenario(s: Record<string, unknown>): Promise<void> {
  await rm(join(dir, "state.json"), { force: true });
  await rm(join(dir, "calls.jsonl"), { force: true });
  await writeFile(join(dir, "scenario.json"), JSON.stringify(s));
}

async function calls(): Promise<{ argv: string[]; dockerHost: string | null }[]> {
  const text = await readFile(join(dir, "calls.jsonl"), "utf8").catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const env = () => ({ PATH: `${FAKE_BIN}:${process.env.PATH}`, FAKE_DOCKER_DIR: dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rollback-fake-docker-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The server "inside the container", of each flavour (the IDC container image is mysql:8.x: MySQL is the realistic one). */
describe.each(testFlavors())("idc-mysql against a real %s", (flavor) => {
  let db: LocalServer;

  beforeAll(async () => {
    db = await startLocalServer({ flavor, name: "idc-mysql", bufferPoolMb: 32 });
  });

  afterAll(async () => {
    await db?.stop();
  });

  beforeEach(async () => {
    await scenario({ containers: {} });
  });

  describe("idc-mysql.ts with a fake docker CLI", () => {
    it("restarts an unhealthy container through DOCKER_HOST and waits until it is healthy and MySQL answers", async () => {
      await scenario({
        containers: {
          "idc-mysql": {
            inspect: [inspected("running", "unhealthy", 5)],
            restart: { exitCode: 0, then: [inspected("running", "starting"), inspected("running", "starting"), inspected("running", "healthy")] },
          },
        },
      });

      const run = await runScript("idc-mysql", ["restart", "--container", "idc-mysql", "--timeout", "20", "--poll-ms", "50", "--json"], {
        ...env(),
        DOCKER_HOST: "ssh://admin@idc-db-1",
        DATABASE_URL: db.url("mysql"),
      });

      expect(run.code, run.stderr).toBe(0);
      expect(run.json).toMatchObject({
        ok: true,
        verb: "restart",
        action: "restart",
        dockerHost: "ssh://admin@idc-db-1",
        before: { status: "running", health: "unhealthy", failingStreak: 5, lastHealthOutput: "mysqladmin: connect to server at 'localhost' failed" },
        after: { status: "running", health: "healthy" },
        mysql: { answered: true, server: `root@127.0.0.1:${db.port}/mysql` },
        problem: null,
      });
      expect(run.json.mysql.version).toMatch(flavor === "mysql" ? /^9\.7\./ : /MariaDB/);
      const argvs = (await calls()).map((c) => c.argv.join(" "));
      expect(argvs).toEqual([
        "inspect --type container idc-mysql",
        "restart --time 60 idc-mysql",
        "inspect --type container idc-mysql",
        "inspect --type container idc-mysql",
        "inspect --type container idc-mysql",
      ]);
      expect((await calls()).every((c) => c.dockerHost === "ssh://admin@idc-db-1")).toBe(true);
    });

    it("check reports an unhealthy container with exit 1 and changes nothing", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("running", "unhealthy", 3)] } } });
      const run = await runScript("idc-mysql", ["check", "--container", "idc-mysql", "--json"], env());
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({ ok: false, verb: "check", action: null, problem: "container is running/unhealthy (failing streak 3)" });
      expect((await calls()).map((c) => c.argv[0])).toEqual(["inspect"]);
    });

    it("exits 2 with a clear error for a missing container or an unreachable docker daemon", async () => {
      const missing = await runScript("idc-mysql", ["check", "--container", "idc-mysqll", "--json"], env());
      expect(missing.code).toBe(2);
      expect(missing.json.error).toMatchObject({ code: "CONTAINER_NOT_FOUND", subject: "idc-mysqll" });

      await scenario({ daemonDown: true });
      const down = await runScript("idc-mysql", ["check", "--container", "idc-mysql", "--json"], env());
      expect(down.code).toBe(2);
      expect(down.json.error.code).toBe("DOCKER_UNAVAILABLE");
      expect(down.json.error.problem).toContain("Cannot connect to the Docker daemon");
    });
  });

  describe("restart, programmatically (the fake docker on a path)", () => {
    const docker = join(FAKE_BIN, "docker");
    const withFake = async <T>(work: () => Promise<T>): Promise<T> => {
      process.env.FAKE_DOCKER_DIR = dir;
      try {
        return await work();
      } finally {
        delete process.env.FAKE_DOCKER_DIR;
      }
    };

    it("waits until MySQL really answers, not just until docker says healthy", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("exited")], restart: { exitCode: 0, then: [inspected("running", "healthy")] } } } });
      await db.kill();
      const started = Date.now();
      const comesBack = new Promise<void>((resolve) => setTimeout(() => void db.start().then(resolve), 800));

      const r = await withFake(() => restartIdcMysql({ container: "idc-mysql", dsn: db.dsn("mysql"), timeoutS: 30, pollMs: 100, dockerBin: docker }));
      await comesBack;

      expect(r).toMatchObject({ ok: true, action: "restart", before: { status: "exited", exitCode: 137 }, mysql: { answered: true } });
      expect(r.waitedMs).toBeGreaterThanOrEqual(800);
      expect(Date.now() - started).toBeLessThan(30_000);
    });

    it("gives up after --timeout when MySQL never answers, saying why", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("running", "unhealthy")], restart: { exitCode: 0, then: [inspected("running", "healthy")] } } } });
      const closed = await freePort();
      const r = await withFake(() =>
        restartIdcMysql({ container: "idc-mysql", dsn: { ...db.dsn("mysql"), port: closed }, timeoutS: 1, pollMs: 100, dockerBin: docker }),
      );
      expect(r.ok).toBe(false);
      expect(r.problem).toMatch(new RegExp(`^not ready after 1s: container running/healthy, MySQL does not answer: DB_CONNECT: root@127.0.0.1:${closed}/mysql`));
      expect(r.waitedMs).toBeLessThan(5_000);
    });

    it("does not restart a healthy container that does not answer here (that is the network), unless forced", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("running", "healthy")] } } });
      const closed = await freePort();
      const r = await withFake(() => restartIdcMysql({ container: "idc-mysql", dsn: { ...db.dsn("mysql"), port: closed }, timeoutS: 1, dockerBin: docker }));
      expect(r).toMatchObject({ ok: false, action: "none" });
      expect(r.problem).toMatch(/container is healthy but MySQL does not answer .* \(not restarted; check the network, or --force\)/);
      expect((await calls()).map((c) => c.argv[0])).toEqual(["inspect"]);

      const forced = await withFake(() => restartIdcMysql({ container: "idc-mysql", dsn: db.dsn("mysql"), timeoutS: 10, force: true, stopTimeoutS: 120, pollMs: 50, dockerBin: docker }));
      expect(forced).toMatchObject({ ok: true, action: "restart" });
      expect((await calls()).map((c) => c.argv.join(" "))).toContain("restart --time 120 idc-mysql");
    });

    it("reports a wrong password as a credentials problem and never invites a restart of the container", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("running", "healthy")] } } });
      const wrong = `mysql://root:not-the-password@127.0.0.1:${db.port}/mysql`;
      for (const verb of ["check", "restart"]) {
        const run = await runScript("idc-mysql", [verb, "--container", "idc-mysql", "--timeout", "5", "--json"], { ...env(), DATABASE_URL: wrong });
        expect(run.code, run.stderr).toBe(1);
        expect(run.json.mysql).toMatchObject({ answered: false, failure: "credentials" });
        expect(run.json.problem).toMatch(/is up but refused the login .*Access denied.*: a credentials problem in DATABASE_URL .*restarting it would not help/);
        expect(run.json.problem).not.toMatch(/--force|check the network/);
        expect(run.stderr).not.toContain("not-the-password");
      }
      expect((await calls()).map((c) => c.argv[0])).toEqual(["inspect", "inspect"]);
    });

    it("says what 'none' means: nothing to do, it is running and healthy", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("running", "healthy")] } } });
      const run = await runScript("idc-mysql", ["restart", "--container", "idc-mysql", "--json"], { ...env(), DATABASE_URL: `mysql://root@127.0.0.1:${db.port}/mysql` });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain("idc-mysql is running/healthy: nothing to do (it is running and healthy)");
    });

    it("reports a failed docker restart as an error naming the container", async () => {
      await scenario({ containers: { "idc-mysql": { inspect: [inspected("dead")], restart: { exitCode: 1, stderr: "Error response from daemon: container is marked for removal and cannot be started" } } } });
      await expect(withFake(() => restartIdcMysql({ container: "idc-mysql", timeoutS: 5, dockerBin: docker }))).rejects.toThrow(
        /DOCKER_RESTART: idc-mysql: .*marked for removal/,
      );
    });
  });
});

describe("what to do about a container (pure)", () => {
  const state = (status: string, health: string | null): ContainerState => stateOf(inspected(status, health ?? undefined).State as Record<string, unknown>, 0);

  it.each([
    ["running", "healthy", "none"],
    ["running", null, "none"],
    ["running", "unhealthy", "restart"],
    ["running", "starting", "wait"],
    ["restarting", null, "wait"],
    ["paused", "healthy", "unpause"],
    ["exited", null, "restart"],
    ["created", null, "restart"],
    ["dead", null, "restart"],
  ])("%s/%s -> %s", (status, health, action) => {
    expect(decideAction(state(status, health))).toBe(action);
  });

  it("restarts anything when forced", () => {
    expect(decideAction(state("running", "healthy"), true)).toBe("restart");
  });

  it("refuses a container name that docker would read as a flag, before docker runs", () => {
    expect(parseContainerName("idc-mysql_1.prod")).toBe("idc-mysql_1.prod");
    expect(() => parseContainerName("-f")).toThrow(/ARGS_INVALID: --container: "-f" is not a container name/);
    expect(() => parseContainerName("idc mysql")).toThrow(/is not a container name/);
  });
});
