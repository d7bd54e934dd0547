import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** PEM files made by `openssl` for a test: a CA and a server certificate it signed. */
export interface Certificates {
  readonly dir: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The server flags that use them (same spelling on MySQL and MariaDB). */
  serverArgs(): string[];
}

/**
 * A throw-away CA and a server certificate for `altNames` (subjectAltName entries such as
 * "DNS:localhost", "IP:127.0.0.1"), valid for a day. RSA 2048: both servers' TLS libraries
 * accept it. Nothing is installed anywhere; the caller removes `dir`.
 */
export async function makeCertificates(altNames: readonly string[], dir?: string): Promise<Certificates> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), "rollback-certs-")));
  const f = (n: string) => join(d, n);
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rollback test CA", "-keyout", f("ca-key.pem"), "-out", f("ca.pem")]);
  await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rollback test server", "-keyout", f("server-key.pem"), "-out", f("server.csr")]);
  await writeFile(f("ext.cnf"), `subjectAltName = ${altNames.join(", ")}\nbasicConstraints = CA:FALSE\n`);
  await run("openssl", [
    "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca-key.pem"), "-CAcreateserial",
    "-days", "1", "-extfile", f("ext.cnf"), "-out", f("server.pem"),
  ]);
  return {
    dir: d,
    ca: f("ca.pem"),
    cert: f("server.pem"),
    key: f("server-key.pem"),
    serverArgs: () => [`--ssl-ca=${f("ca.pem")}`, `--ssl-cert=${f("server.pem")}`, `--ssl-key=${f("server-key.pem")}`],
  };
}
