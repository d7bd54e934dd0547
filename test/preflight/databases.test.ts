import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPreflight } from "../../lib/preflight";
import { freePort } from "../../lib/sandbox/free-port";
import { type LatencyProxy, startLatencyProxy } from "../../lib/sandbox/latency-proxy";
import { type LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { inputs } from "./fixture";

/** Real servers: two of the flavour, and a TCP proxy that gives one of them a second address. */
describe.each(testFlavors())("preflight: databases (%s)", (flavor) => {
  let idc: LocalServer;
  let aws: LocalServer;
  let alias: LatencyProxy;

  beforeAll(async () => {
    [idc, aws] = await Promise.all([startLocalServer({ flavor, name: "pf-idc", timeZone: "+09:00" }), startLocalServer({ flavor, name: "pf-aws" })]);
    alias = await startLatencyProxy(idc.port, 0);
  }, 120_000);
  afterAll(async () => {
    await alias?.close();
    await Promise.all([idc?.stop(), aws?.stop()]);
  });

  const endpoint = (port: number) => ({ host: "127.0.0.1", port, database: "mysql", user: "root" });
  const url = (port: number, password = "") => `mysql://root${password ? `:${password}` : ""}@127.0.0.1:${port}/mysql`;
  const check = (idcPort: number, awsPort: number, env: NodeJS.ProcessEnv) =>
    runPreflight(inputs({ endpoints: { idc: endpoint(idcPort), aws: endpoint(awsPort) } }), { env, only: ["databases"] }).then((r) => r.checks[0]);

  it("passes for two servers, naming each one's version, identity and TLS", async () => {
    const c = await check(idc.port, aws.port, { IDC_DATABASE_URL: url(idc.port), AWS_DATABASE_URL: url(aws.port) });
    expect(c.status).toBe("pass");
    expect(c.evidence).toHaveLength(2);
    expect(c.evidence[0]).toMatch(new RegExp(`^idc: (MySQL|MariaDB) \\S+ at root@127.0.0.1:${idc.port}/mysql, server \\S+, TLS: PREFERRED, (TLSv\\S+ \\S+|plain TCP)$`));
    expect(c.evidence[1]).toMatch(/^aws: /);
  });

  it("refuses one server given twice, even behind a second address", async () => {
    const c = await check(idc.port, alias.port, { IDC_DATABASE_URL: url(idc.port), AWS_DATABASE_URL: url(alias.port) });
    expect(c.status).toBe("fail");
    expect(c.problems.map((p) => p.code)).toEqual(["SAME_SERVER"]);
    expect(c.problems[0].message).toContain(`127.0.0.1:${alias.port}`);
  });

  it("reports a refused login as a connection problem naming the server, never the password", async () => {
    const c = await check(idc.port, aws.port, { IDC_DATABASE_URL: url(idc.port, "s3cret-pw"), AWS_DATABASE_URL: url(aws.port) });
    expect(c.problems.map((p) => p.code)).toEqual(["DB_CONNECT"]);
    expect(c.problems[0].subject).toBe(`root@127.0.0.1:${idc.port}/mysql`);
    expect(JSON.stringify(c)).not.toContain("s3cret-pw");
  });

  it("reaches each server with its URL's TLS mode: VERIFY_IDENTITY without a trusted CA is a problem naming the server", async () => {
    const c = await check(idc.port, aws.port, { IDC_DATABASE_URL: url(idc.port), AWS_DATABASE_URL: `${url(aws.port)}?ssl-mode=VERIFY_IDENTITY` });
    expect(c.status).toBe("fail");
    expect(c.problems.map((p) => p.subject)).toEqual([`root@127.0.0.1:${aws.port}/mysql`]);
    expect(c.evidence.map((e) => e.split(":")[0])).toEqual(["idc"]);
  });

  it("leaves an IDC that does not answer to idc-health (which restarts it), unless told not to restart", async () => {
    const down = await freePort();
    const env = { IDC_DATABASE_URL: url(down), AWS_DATABASE_URL: url(aws.port) };
    const c = await check(down, aws.port, env);
    expect(c.status).toBe("not-checked");
    expect(c.reason).toMatch(/^idc: the server does not answer \(.*ECONNREFUSED.*\); idc-health restarts the container shop-mysql next/);
    expect(c.evidence.map((e) => e.split(":")[0])).toEqual(["aws"]);
    const strict = await runPreflight(inputs({ endpoints: { idc: endpoint(down), aws: endpoint(aws.port) }, idcMysql: { ...inputs().idcMysql, restartIfUnhealthy: false } }), { env, only: ["databases"] });
    expect(strict.checks[0].problems.map((p) => p.code)).toEqual(["DB_CONNECT"]);
  });

  it("refuses a URL that names another endpoint than the config, and a missing one", async () => {
    const c = await check(idc.port, aws.port, { IDC_DATABASE_URL: url(aws.port) });
    expect(c.problems.map((p) => `${p.code} ${p.subject}`)).toEqual(["DSN_MISMATCH IDC_DATABASE_URL", "DSN_MISSING AWS_DATABASE_URL"]);
    expect(c.problems[0].problem).toBe(`port is ${aws.port}, rollback:idc.port says ${idc.port}`);
  });
});
