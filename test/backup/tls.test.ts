import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dsn } from "../../lib/dsn";
import { Certificates, makeCertificates } from "../../lib/sandbox/certs";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { createBackup, restoreBackup } from "../../lib/backup";
import { rowsOf, seq, useSandboxTools } from "./helpers";

useSandboxTools();

/**
 * The dump and client tools connect with the DSN's TLS settings: a server that refuses plain
 * TCP (require_secure_transport=ON, as RDS for MySQL 9.7) and an account that must present a
 * client certificate (REQUIRE X509). Only a tool whose option file carries ssl-mode, ssl-ca,
 * ssl-cert and ssl-key gets in; the engine's own connections (mysql2) get in either way.
 */
describe.each(testFlavors())("backups over TLS (%s)", (flavor) => {
  let server: LocalServer;
  let certs: Certificates;
  let work: string;

  beforeAll(async () => {
    certs = await makeCertificates(["DNS:localhost"]);
    server = await startLocalServer({ flavor, name: `backup-tls-${flavor}`, args: [...certs.serverArgs(), "--require-secure-transport=ON"] });
    work = await mkdtemp(join(tmpdir(), "backup-tls-"));
    await server.exec(
      "CREATE DATABASE app",
      "CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20))",
      `INSERT INTO app.t SELECT seq, CONCAT('v', seq) FROM ${seq(1, 500)}`,
      "CREATE USER 'bk'@'%' IDENTIFIED BY 'tls pw' REQUIRE X509",
      "GRANT ALL ON *.* TO 'bk'@'%'",
    );
  });

  afterAll(async () => {
    await server?.stop();
    if (certs) await rm(certs.dir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  // The server's certificate doubles as the client's: the same CA signed it.
  const dsn = (database: string): Dsn => ({
    ...server.dsn(database),
    host: "localhost",
    user: "bk",
    password: "tls pw",
    tls: { mode: "VERIFY_IDENTITY", ca: certs.ca, cert: certs.cert, key: certs.key },
  });

  it("creates and restores with VERIFY_IDENTITY and a client certificate, on a server that refuses plain TCP", async () => {
    const dir = join(work, "app");
    const created = await createBackup({ dsn: dsn("app"), out: dir, quiet: true });
    expect(created).toMatchObject({ ok: true, rows: 500 });
    const restored = await restoreBackup({ dsn: dsn("app_copy"), path: dir, quiet: true, create: true });
    expect(restored).toMatchObject({ ok: true, rows: 500 });
    expect(await rowsOf(server, "app_copy", "t")).toEqual(await rowsOf(server, "app", "t"));
  });
});
