import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dsn } from "../../lib/dsn";
import { clientTlsOptions, connect, describeTls, pool, tlsOf } from "../../lib/mysql";
import { serverBinaries } from "../../lib/sandbox/binaries";
import { Certificates, makeCertificates } from "../../lib/sandbox/certs";
import { LocalServer, SandboxFlavor, startLocalServer, testFlavors } from "../../lib/sandbox/server";

const run = promisify(execFile);

/**
 * TLS on real servers that refuse plain TCP (require_secure_transport=ON, as RDS for MySQL 9.7
 * by default), with certificates this test makes: a CA, and a server certificate naming only
 * "localhost", so connecting by 127.0.0.1 is a host-name mismatch. A second CA that signed
 * nothing of the server's stands in for a wrong ssl-ca.
 */
describe.each(testFlavors())("TLS (%s)", (flavor: SandboxFlavor) => {
  let server: LocalServer;
  let certs: Certificates;
  let other: Certificates;
  beforeAll(async () => {
    certs = await makeCertificates(["DNS:localhost"]);
    other = await makeCertificates(["DNS:localhost"]);
    server = await startLocalServer({ flavor, name: `tls-${flavor}`, args: [...certs.serverArgs(), "--require-secure-transport=ON"] });
    const auth = flavor === "mysql" ? "IDENTIFIED WITH caching_sha2_password BY" : "IDENTIFIED BY";
    await server.exec(`CREATE USER 'app'@'%' ${auth} 'p@ss w0rd'`, "GRANT ALL ON *.* TO 'app'@'%'");
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([certs, other].map((c) => c && rm(c.dir, { recursive: true, force: true })));
  });

  const dsn = (over: Partial<Dsn>): Dsn => ({ ...server.dsn("mysql"), ...over });

  it("VERIFY_IDENTITY with the right CA connects by a name the certificate lists, and reports its cipher", async () => {
    const c = await connect(dsn({ host: "localhost", tls: { mode: "VERIFY_IDENTITY", ca: certs.ca } }));
    const t = await tlsOf(c);
    await c.end();
    expect(t.mode).toBe("VERIFY_IDENTITY");
    expect(t.cipher).toMatch(/\w/);
    expect(t.version).toMatch(/^TLSv1\.[23]$/);
    expect(describeTls(t)).toBe(`VERIFY_IDENTITY, ${t.version} ${t.cipher}`);
  });

  it("VERIFY_IDENTITY refuses a host the certificate does not name (127.0.0.1), naming the host; VERIFY_CA accepts it", async () => {
    await expect(connect(dsn({ tls: { mode: "VERIFY_IDENTITY", ca: certs.ca } }))).rejects.toMatchObject({
      code: "DB_TLS",
      message: expect.stringMatching(/root@127\.0\.0\.1:\d+\/mysql: TLS: the server's certificate does not name 127\.0\.0\.1/),
    });
    const c = await connect(dsn({ tls: { mode: "VERIFY_CA", ca: certs.ca } }));
    expect((await tlsOf(c)).cipher).toBeTruthy();
    await c.end();
  });

  it("refuses a certificate that the given CA did not sign", async () => {
    await expect(connect(dsn({ host: "localhost", tls: { mode: "VERIFY_CA", ca: other.ca } }))).rejects.toMatchObject({
      code: "DB_TLS",
      message: expect.stringContaining(`localhost:${server.port}/mysql: TLS: the server's certificate is not trusted by ssl-ca (${other.ca})`),
    });
  });

  it("reports plain TCP refused by the server (require_secure_transport=ON) as such", async () => {
    await expect(connect(dsn({ tls: { mode: "DISABLED" } }))).rejects.toMatchObject({
      code: "DB_TLS",
      // MySQL says why (ER_SECURE_TRANSPORT_REQUIRED); MariaDB says "Access denied", told apart by a TLS attempt.
      message: expect.stringMatching(/the server refuses (plain TCP|this login over plain TCP) \(require_secure_transport=ON.*\) and ssl-mode is DISABLED/),
    });
  });

  it("PREFERRED (no URL parameter) uses TLS when the server offers it", async () => {
    const c = await connect(dsn({}));
    expect(await tlsOf(c)).toMatchObject({ mode: "PREFERRED", cipher: expect.stringMatching(/\w/) });
    await c.end();
  });

  it("a password account (caching_sha2_password on MySQL) logs in over VERIFY_IDENTITY, and a pool proves the host once", async () => {
    const d = dsn({ host: "localhost", user: "app", password: "p@ss w0rd", tls: { mode: "VERIFY_IDENTITY", ca: certs.ca } });
    const c = await connect(d);
    const [[u]] = (await c.query("SELECT CURRENT_USER() AS u")) as unknown as [{ u: string }[]];
    expect(u.u).toBe("app@%");
    await c.end();
    const p = await pool(d, { connectionLimit: 2 });
    const [[s]] = (await p.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")) as unknown as [{ Value: string }[]];
    expect(s.Value).toMatch(/\w/);
    await p.end();
    await expect(pool(dsn({ user: "app", password: "p@ss w0rd", tls: { mode: "VERIFY_IDENTITY", ca: certs.ca } }))).rejects.toMatchObject({ code: "DB_TLS" });
  });

  it("gives the flavour's own client tool option-file lines that connect with the same verification", async () => {
    const tool = flavor === "mysql" ? join(serverBinaries("mysql").toolsDir, "mysql") : "mariadb";
    const query = async (d: Dsn) => {
      const file = join(certs.dir, "client.cnf");
      // protocol=TCP: with host=localhost both clients would take the Unix socket, where TLS is moot.
      await writeFile(file, ["[client]", "protocol=TCP", `host=${d.host}`, `port=${d.port}`, `user=${d.user}`, `password=${d.password}`, ...clientTlsOptions(d, flavor), ""].join("\n"), { mode: 0o600 });
      const { stdout } = await run(tool, [`--defaults-extra-file=${file}`, "-N", "-e", "SHOW SESSION STATUS LIKE 'Ssl_cipher'"]);
      return stdout.trim();
    };
    expect(await query(dsn({ host: "localhost", user: "app", password: "p@ss w0rd", tls: { mode: "VERIFY_IDENTITY", ca: certs.ca } }))).toMatch(/^Ssl_cipher\s+\S+/);
    await expect(query(dsn({ host: "localhost", user: "app", password: "p@ss w0rd", tls: { mode: "VERIFY_CA", ca: other.ca } }))).rejects.toThrow(/SSL|TLS|certificate/i);
  });
});

describe("TLS against a server without certificates (mariadb)", () => {
  it("PREFERRED falls back to plain TCP, and REQUIRED says the server offers no TLS", async () => {
    // MariaDB 10.11 makes no certificates of its own (MySQL does, at --initialize).
    const server = await startLocalServer({ flavor: "mariadb", name: "tls-none" });
    try {
      const c = await connect(server.dsn("mysql"));
      expect(await tlsOf(c)).toEqual({ mode: "PREFERRED", version: null, cipher: null });
      await c.end();
      await expect(connect({ ...server.dsn("mysql"), tls: { mode: "REQUIRED" } })).rejects.toMatchObject({
        code: "DB_TLS",
        message: expect.stringContaining("ssl-mode=REQUIRED needs TLS but the server does not offer it"),
      });
    } finally {
      await server.stop();
    }
  });
});
