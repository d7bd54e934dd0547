import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { freePort } from "../../lib/sandbox/free-port";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { NginxSandbox, startNginx } from "../../lib/sandbox/nginx";
import { switchUpstream } from "../../lib/traffic/switch-upstream";
import { runScript } from "./support";

/**
 * nginx as a TCP proxy in front of MySQL (the `stream` kind, ngx_stream_module loaded by the
 * sandbox), with two real servers of the flavour standing in for AWS and IDC.
 */
describe.each(testFlavors())("stream upstream: nginx in front of MySQL (%s)", (flavor) => {
  let aws: LocalServer;
  let idc: LocalServer;
  let nginx: NginxSandbox;
  let proxyPort: number;
  let file: string;
  /** The probe's credentials (root without password in the sandbox; host and port are not used). */
  const probeEnv = { PROBE_DATABASE_URL: "mysql://root@127.0.0.1:1/mysql" };

  beforeAll(async () => {
    [aws, idc] = await Promise.all([
      startLocalServer({ flavor, name: "stream-aws", bufferPoolMb: 32 }),
      startLocalServer({ flavor, name: "stream-idc", bufferPoolMb: 32, timeZone: "+09:00" }),
    ]);
    proxyPort = await freePort();
    nginx = await startNginx(
      (prefix) => ({
        files: { "upstream-mysql.conf": `upstream mysql { server 127.0.0.1:${aws.port}; }\n` },
        stream: [`include ${prefix}/upstream-mysql.conf;`, `server { listen 127.0.0.1:${proxyPort}; proxy_pass mysql; proxy_connect_timeout 2s; }`].join("\n"),
      }),
      { name: "stream" },
    );
    file = nginx.path("upstream-mysql.conf");
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([aws?.stop(), idc?.stop()]);
  });

  /** Which server answers a new connection through nginx. */
  async function portBehindProxy(): Promise<number> {
    const c = await connect({ host: "127.0.0.1", port: proxyPort, user: "root", password: "", database: "mysql" });
    try {
      const [rows] = await c.query("SELECT @@port AS port");
      return Number((rows as { port: number }[])[0].port);
    } finally {
      await c.end();
    }
  }

  const cli = (name: string, servers: string, ...more: string[]) => [
    "--file", file, "--name", name, "--kind", "stream", "--servers", servers, "--test-cmd", nginx.testCommand, "--reload-cmd", nginx.reloadCommand, "--json", ...more,
  ];

  it("sends new MySQL connections to the chosen server after a switch, proven through nginx; open ones stay where they were", async () => {
    expect(await portBehindProxy()).toBe(aws.port);
    const pooled = await connect({ host: "127.0.0.1", port: proxyPort, user: "root", password: "", database: "mysql" });

    const run = await runScript("switch-upstream", cli("mysql", `127.0.0.1:${idc.port},127.0.0.1:${aws.port} backup`, "--probe-mysql", `127.0.0.1:${proxyPort}`), probeEnv);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.next.text).toContain("(stream upstream)");
    // The probe's proof: the server behind nginx said it is IDC (its port), and only the primary counts.
    expect(run.json.effect).toMatchObject({ proven: true, probe: { ok: true } });
    expect(run.json.effect.probe.lastAnswer).toContain(`:${idc.port} server_id=`);
    expect(run.json.effect.probe.expected).not.toContain(`:${aws.port} server_id=`);

    for (let i = 0; i < 3; i++) expect(await portBehindProxy()).toBe(idc.port);
    // A connection opened before the reload is still proxied to the old server by the old worker:
    // why docs/traffic-edge.md says to recycle the app's pool after a switch.
    const [rows] = await pooled.query("SELECT @@port AS port");
    expect(Number((rows as { port: number }[])[0].port)).toBe(aws.port);
    await pooled.end();
  });

  it("undoes a switch that moved nothing: an upstream nginx's stream server does not proxy to (exit 1, file as before)", async () => {
    const before = await readFile(file, "utf8");
    // nginx accepts the extra block and reloads fine; connections still go through `mysql`.
    // The credentials from a file this time (how it runs over SSH, where env does not travel).
    const credentials = nginx.path("probe-database-url");
    await writeFile(credentials, `${probeEnv.PROBE_DATABASE_URL}\n`, { mode: 0o600 });
    const run = await runScript("switch-upstream", cli("mysql_idc", `127.0.0.1:${aws.port}`, "--probe-mysql", `127.0.0.1:${proxyPort}`, "--probe-credentials", credentials, "--probe-timeout", "2"));
    expect(run.code, run.stderr).toBe(1);
    expect(run.json).toMatchObject({ outcome: "rolled-back", effect: { proven: false } });
    expect(run.json.effect.probe.lastAnswer).toContain(`:${idc.port} server_id=`);
    expect(await readFile(file, "utf8")).toBe(before);
    expect(await portBehindProxy()).toBe(idc.port);
  });

  it("switches back (the forward direction) the same way", async () => {
    const offset = await nginx.logOffset();
    const r = await switchUpstream({
      file,
      upstream: { name: "mysql", kind: "stream", servers: [{ host: "127.0.0.1", port: aws.port }] },
      testCmd: nginx.testArgv,
      reloadCmd: nginx.reloadArgv,
      probe: { kind: "mysql", listen: { host: "127.0.0.1", port: proxyPort }, user: "root", password: "" },
    });
    expect(r.outcome).toBe("switched");
    await nginx.waitForReload(offset);
    for (let i = 0; i < 3; i++) expect(await portBehindProxy()).toBe(aws.port);
  });
});
