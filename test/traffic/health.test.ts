import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeSourceSql, readServerInfo, replicaControlSql, ServerInfo } from "../../lib/flavor";
import { connect } from "../../lib/mysql";
import { freePort } from "../../lib/sandbox/free-port";
import { LocalServer, SandboxFlavor, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { runHealth } from "../../lib/traffic/health";
import { runScript } from "./support";

/** A real HTTP server standing in for the app. */
let web: Server;
let site: string;

beforeAll(async () => {
  web = createServer((req, res) => {
    const send = (status: number, body: string, delayMs = 0) => setTimeout(() => res.writeHead(status, { "content-type": "text/plain" }).end(body), delayMs);
    if (req.url === "/health") send(200, "status: green");
    else if (req.url === "/slow") send(200, "status: green", 300);
    else if (req.url === "/login") res.writeHead(302, { location: "/sso" }).end();
    else if (req.url === "/whoami") send(200, req.headers.authorization ?? "anonymous");
    else send(500, "database unavailable");
  });
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  site = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
});

afterAll(() => {
  web?.close();
});

/** The result of one kind of check (a canary also runs the MySQL check first). */
const one = async (opts: Parameters<typeof runHealth>[0], check?: string) => {
  const { checks } = await runHealth(opts);
  return check ? checks.find((c) => c.check === check)! : checks[0];
};

/**
 * Each flavour's real primary with a real replica. MariaDB replicates by file and position;
 * MySQL 9.7 (as RDS for MySQL and an IDC with GTIDs) by GTID auto-position, which needs
 * gtid_mode=ON on both servers. The replica is set up before anything runs on it, so it
 * replays the primary's binary log from the start (CREATE DATABASE, the users).
 */
const REPLICATION: Record<SandboxFlavor, { primary: string[]; replica: string[]; mode: "gtid" | "file"; version: RegExp; superReadOnly: boolean | null }> = {
  mariadb: { primary: ["--log-bin=mysql-bin", "--server-id=1"], replica: ["--server-id=2"], mode: "file", version: /MariaDB/, superReadOnly: null },
  mysql: {
    primary: ["--server-id=1", "--gtid-mode=ON", "--enforce-gtid-consistency=ON"],
    replica: ["--server-id=2", "--gtid-mode=ON", "--enforce-gtid-consistency=ON"],
    mode: "gtid",
    version: /^9\.7\./,
    superReadOnly: false,
  },
};

describe.each(testFlavors())("health against a real %s primary and replica", (flavor) => {
  const setup = REPLICATION[flavor];
  let primary: LocalServer;
  let replica: LocalServer;
  let replicaInfo: ServerInfo;
  /** Runs one of lib/flavor.ts's replica-control statements on the replica. */
  const onReplica = (verb: "START" | "STOP", thread?: "SQL_THREAD") => replica.exec(replicaControlSql(replicaInfo, verb, thread));

  beforeAll(async () => {
    [primary, replica] = await Promise.all([
      startLocalServer({ flavor, name: "health-primary", bufferPoolMb: 32, args: setup.primary }),
      startLocalServer({ flavor, name: "health-replica", bufferPoolMb: 32, args: setup.replica }),
    ]);
    const admin = await replica.admin();
    try {
      replicaInfo = await readServerInfo(admin);
      await admin.query(changeSourceSql(replicaInfo, setup.mode), ["127.0.0.1", primary.port, "root", ""]);
      await admin.query(replicaControlSql(replicaInfo, "START"));
    } finally {
      await admin.end();
    }
    await primary.exec(
      "CREATE DATABASE shop",
      "CREATE TABLE shop.rollback_canary (id VARCHAR(64) NOT NULL PRIMARY KEY, written_at DATETIME(6) NOT NULL, writer VARCHAR(255) NOT NULL)",
      "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-Secret-9'",
      "GRANT ALL ON shop.* TO 'app'@'127.0.0.1'",
      "CREATE TABLE shop.stock (id INT PRIMARY KEY, n INT NOT NULL)",
      "INSERT INTO shop.stock VALUES (1, 0)",
    );
  }, 120_000);

  afterAll(async () => {
    await replica?.exec(replicaControlSql(replicaInfo, "STOP")).catch(() => undefined);
    await Promise.all([replica?.stop(), primary?.stop()]);
  });

  describe("MySQL check", () => {
    it("reports version, read_only and that a primary is a primary", async () => {
      const c = await one({ dsn: primary.dsn("shop"), mysql: true, expectWritable: true });
      expect(c).toMatchObject({ check: "mysql", ok: true, problem: null, target: `root@127.0.0.1:${primary.port}/shop` });
      expect(c.evidence).toMatchObject({ readOnly: false, superReadOnly: setup.superReadOnly, replication: { role: "primary" } });
      expect(String(c.evidence.version)).toMatch(setup.version);
    });

    it("reads a running replica's threads and lag, and fails when its SQL thread stops", async () => {
      const deadline = Date.now() + 20_000;
      let c = await one({ dsn: replica.dsn("mysql"), mysql: true, maxReplicaLagS: 30 });
      while (!c.ok && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        c = await one({ dsn: replica.dsn("mysql"), mysql: true, maxReplicaLagS: 30 });
      }
      expect(c.ok, c.problem ?? "").toBe(true);
      expect(c.evidence.replication).toMatchObject({ role: "replica", ioRunning: "Yes", sqlRunning: "Yes", secondsBehind: 0, sourceHost: "127.0.0.1" });

      await onReplica("STOP", "SQL_THREAD");
      const stopped = await one({ dsn: replica.dsn("mysql"), mysql: true, maxReplicaLagS: 30 });
      expect(stopped.ok).toBe(false);
      expect(stopped.problem).toBe("replication stopped (IO Yes, SQL No)");
      await onReplica("START", "SQL_THREAD");
    });

    // Real lag: a session on the replica holds the row lock the applier needs, so the primary's
    // update waits in the relay log (up to innodb_lock_wait_timeout, 50 s) while the replica
    // falls behind; when the lock goes, the applier catches up.
    it("fails --max-replica-lag-s while the replica's applier is held up, and passes once it has caught up", async () => {
      const lagCheck = () => one({ dsn: replica.dsn("mysql"), mysql: true, maxReplicaLagS: 1 });
      const until = async (what: string, done: (c: Awaited<ReturnType<typeof one>>) => boolean) => {
        const deadline = Date.now() + 20_000;
        for (let c = await lagCheck(); ; c = await lagCheck()) {
          if (done(c)) return c;
          if (Date.now() > deadline) throw new Error(`${what}: still ${c.problem ?? "ok"} after 20 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await until("caught up at the start", (c) => c.ok);
      const holder = await connect(replica.dsn("shop"));
      try {
        await holder.query("BEGIN");
        await holder.query("SELECT n FROM stock WHERE id = 1 FOR UPDATE");
        await primary.exec("UPDATE shop.stock SET n = n + 1 WHERE id = 1");
        const behind = await until("lag seen", (c) => !c.ok);
        expect(behind.problem).toMatch(/^replica lag \d+ s exceeds 1 s$/);
        expect(behind.evidence.replication).toMatchObject({ role: "replica", ioRunning: "Yes", sqlRunning: "Yes" });
        expect(Number((behind.evidence.replication as { secondsBehind: number }).secondsBehind)).toBeGreaterThan(1);
      } finally {
        await holder.query("ROLLBACK");
        await holder.end();
      }
      const caughtUp = await until("caught up after the lock", (c) => c.ok);
      expect(caughtUp.evidence.replication).toMatchObject({ secondsBehind: 0 });
      const admin = await replica.admin();
      const [rows] = await admin.query("SELECT n FROM shop.stock WHERE id = 1");
      await admin.end();
      expect(Number((rows as { n: number }[])[0].n)).toBe(1);
    });

    it("fails --expect-writable on a read_only server and --max-replica-lag-s on a primary", async () => {
      await replica.exec("SET GLOBAL read_only = ON");
      const ro = await one({ dsn: replica.dsn("mysql"), mysql: true, expectWritable: true });
      expect(ro).toMatchObject({ ok: false, problem: "server is read_only; expected writable", evidence: { readOnly: true } });
      await replica.exec("SET GLOBAL read_only = OFF");
      expect((await one({ dsn: primary.dsn("shop"), mysql: true, maxReplicaLagS: 5 })).problem).toBe("expected a replica, replication role is primary");
    });

    // MySQL's read_only does not bind SUPER users (root, RDS's admin-like roles), super_read_only does.
    it.runIf(flavor === "mysql")("fails --expect-writable on a super_read_only MySQL and names it", async () => {
      await replica.exec("SET GLOBAL super_read_only = ON");
      try {
        const ro = await one({ dsn: replica.dsn("mysql"), mysql: true, expectWritable: true });
        expect(ro).toMatchObject({ ok: false, problem: "server is super_read_only; expected writable", evidence: { readOnly: true, superReadOnly: true } });
      } finally {
        await replica.exec("SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF");
      }
    });

    it("fails, with the error as evidence, when MySQL does not answer", async () => {
      const closed = await freePort();
      const c = await one({ dsn: { ...primary.dsn("shop"), port: closed }, mysql: true });
      expect(c.ok).toBe(false);
      expect(c.problem).toMatch(new RegExp(`DB_CONNECT: root@127.0.0.1:${closed}/shop: .*ECONNREFUSED`));
    });
  });

  describe("write-read-delete canary", () => {
    it("writes a row, reads back exactly what it wrote, deletes it and leaves nothing behind", async () => {
      const c = await one({ dsn: primary.dsn("shop"), canaryTable: "rollback_canary" }, "canary");
      expect(c).toMatchObject({ check: "canary", ok: true, problem: null, evidence: { deleted: true } });
      expect(c.evidence.readBack).toBe(c.evidence.wrote);
      expect(String(c.evidence.wrote)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      const admin = await primary.admin();
      const [rows] = await admin.query("SELECT COUNT(*) AS n FROM shop.rollback_canary");
      await admin.end();
      expect(Number((rows as { n: string }[])[0].n)).toBe(0);
    });

    it("fails with the DDL to run when the table is missing, and creates it only when asked", async () => {
      const missing = await one({ dsn: primary.dsn("shop"), canaryTable: "shop.health_canary" }, "canary");
      expect(missing.ok).toBe(false);
      expect(missing.problem).toContain("table shop.health_canary does not exist; create it (--create-canary) with: CREATE TABLE IF NOT EXISTS `shop`.`health_canary`");
      const created = await one({ dsn: primary.dsn("shop"), canaryTable: "shop.health_canary", createCanary: true }, "canary");
      expect(created.ok).toBe(true);
    });

    it("fails when the server refuses writes (IDC still read-only for the app user)", async () => {
      await primary.exec("SET GLOBAL read_only = ON");
      try {
        const c = await one({ dsn: { ...primary.dsn("shop"), user: "app", password: "app-Secret-9" }, canaryTable: "rollback_canary" }, "canary");
        expect(c.ok).toBe(false);
        expect(c.problem).toMatch(/read-only/);
      } finally {
        await primary.exec("SET GLOBAL read_only = OFF");
      }
    });
  });

  describe("health.ts", () => {
    it("runs every check, exits 1 when one fails, and keeps the password out of the report", async () => {
      const run = await runScript(
        "health",
        ["--mysql", "--canary-table", "rollback_canary", "--http", `${site}/health`, "--http", `${site}/broken`, "--expect-body", "green", "--disk", "/", "--min-disk-free-pct", "1", "--min-mem-free-mb", "1", "--json"],
        { DATABASE_URL: `mysql://app:app-Secret-9@127.0.0.1:${primary.port}/shop` },
      );
      expect(run.code, run.stderr).toBe(1);
      expect(run.json).toMatchObject({ ok: false, passed: 5, failed: 1 });
      expect(run.json.checks.map((c: { check: string; ok: boolean }) => `${c.check}:${c.ok}`)).toEqual([
        "mysql:true",
        "canary:true",
        "http:true",
        "http:false",
        "disk:true",
        "memory:true",
      ]);
      expect(run.stderr).toContain(`FAIL http ${site}/broken`);
      expect(run.stdout + run.stderr).not.toContain("app-Secret-9");
    });
  });
});

describe("HTTP health", () => {
  it("passes on the expected status and body, with latency as evidence", async () => {
    const c = await one({ http: [`${site}/health`], expectStatus: 200, expectBody: "green", maxLatencyMs: 2_000 });
    expect(c).toMatchObject({ check: "http", ok: true, evidence: { status: 200, bodyPrefix: "status: green" } });
    expect(c.evidence.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ["/nope", {}, "status 500, expected 2xx"],
    ["/health", { expectBody: "all systems go" }, 'body does not contain "all systems go"'],
    ["/slow", { maxLatencyMs: 100 }, /^latency \d+ ms exceeds 100 ms$/],
    ["/login", {}, "status 302, expected 2xx"],
  ])("fails %s with the reason", async (path, extra, problem) => {
    const c = await one({ http: [`${site}${path}`], ...extra });
    expect(c.ok).toBe(false);
    expect(c.problem).toMatch(problem);
  });

  it("sends credentials in the URL as Basic auth and never prints them", async () => {
    const c = await one({ http: [`http://monitor:Pa55word@${site.slice("http://".length)}/whoami`] });
    expect(c.evidence.bodyPrefix).toBe(`Basic ${Buffer.from("monitor:Pa55word").toString("base64")}`);
    expect(c.target).toBe(`${site}/whoami`);
  });

  it("fails on a refused connection", async () => {
    const port = await freePort();
    const c = await one({ http: [`http://127.0.0.1:${port}/health`] });
    expect(c).toMatchObject({ ok: false, problem: `fetch failed: connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe("host resources", () => {
  it("checks disk free space and available memory against thresholds", async () => {
    const r = await runHealth({ disks: ["/"], minDiskFreePct: 0, minMemFreeMb: 1 });
    expect(r.checks.map((c) => [c.check, c.ok])).toEqual([["disk", true], ["memory", true]]);
    expect(r.checks[0].evidence).toMatchObject({ minFreePct: 0 });
    expect(Number(r.checks[0].evidence.totalBytes)).toBeGreaterThan(0);
    expect(r.checks[1].evidence).toMatchObject({ source: "MemAvailable", minFreeMb: 1 });

    const tight = await runHealth({ disks: ["/"], minDiskFreePct: 100, minMemFreeMb: 1e9 });
    expect(tight.checks.map((c) => c.ok)).toEqual([false, false]);
    expect(tight.checks[0].problem).toMatch(/% free, below 100%/);
    expect(tight.checks[1].problem).toMatch(/MB available, below 1000000000 MB/);
  });
});

describe("health.ts without a server", () => {
  it("exits 0 when everything passes, and 2 when a MySQL check has no DATABASE_URL", async () => {
    const good = await runScript("health", ["--http", `${site}/health`, "--json"]);
    expect(good.code).toBe(0);
    expect(good.json).toMatchObject({ ok: true, passed: 1, failed: 0 });
    const noDsn = await runScript("health", ["--mysql", "--json"], { DATABASE_URL: "" });
    expect(noDsn.code).toBe(2);
    expect(noDsn.json.error).toMatchObject({ code: "DSN_MISSING", subject: "DATABASE_URL" });
  });
});
