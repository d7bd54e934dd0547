import type { RowDataPacket } from "mysql2/promise";
import type { Side } from "../dns-weights";
import { type Dsn, describeDsn, parseDsn } from "../dsn";
import { RollbackError, isRollbackError } from "../errors";
import { describeServer, readServerInfo, serverIdentitySql } from "../flavor";
import { connect, describeTls, tlsOf } from "../mysql";
import type { RdsSeen } from "./aws";
import type { Findings } from "./check";
import type { PreflightInputs } from "./inputs";

/** The environment variables preflight reads the two databases' URLs from (with TLS parameters, as the runbook builds them). */
export const DATABASE_URL_ENV: Readonly<Record<Side, string>> = { idc: "IDC_DATABASE_URL", aws: "AWS_DATABASE_URL" };

/** Node's socket errors for "nothing answers there" (as opposed to a refusal by the server). */
const NOT_ANSWERING = /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|connect timeout/i;

/** RDS statuses from which rds-power starts the instance (planPower). */
const STARTABLE = ["stopped", "stopping"];

interface Seen {
  readonly side: Side;
  readonly where: string;
  readonly identity: string;
}

/**
 * Both databases answer with the credentials and TLS settings of their URLs, each URL names
 * the endpoint the stack config names (the runbook's steps use the config's), and they are two
 * servers: a sync "from AWS to IDC" that reaches one server twice compares it with itself,
 * finds nothing to copy and calls IDC complete. Identity is flavor.ts serverIdentitySql
 * (@@server_uuid on MySQL; hostname, port and server_id on MariaDB), read from the server, so
 * two addresses of one server (a proxy, a DNS alias, 127.0.0.1 and localhost) are caught.
 */
export async function checkDatabases(inputs: PreflightInputs, env: NodeJS.ProcessEnv, f: Findings, rds: RdsSeen = {}): Promise<void> {
  const seen: Seen[] = [];
  for (const side of ["idc", "aws"] as const) {
    // The cutover's first step starts RDS: before it, a stopped instance cannot answer, and
    // that is expected, not a problem (the RDS check has said rds-power can start it).
    if (side === "aws" && inputs.rds.desiredState === "available" && rds.status !== undefined && STARTABLE.includes(rds.status)) {
      f.notChecked = `aws: RDS ${inputs.rds.instanceId} is ${rds.status}, so the AWS database cannot answer before rds-power starts it; its credentials, TLS and identity are not checked`;
      continue;
    }
    const s = await reach(side, inputs, env, f);
    if (s) seen.push(s);
  }
  const [a, b] = seen;
  if (a && b && a.identity === b.identity) {
    f.problems.push(
      new RollbackError(
        "SAME_SERVER",
        `${DATABASE_URL_ENV.idc}, ${DATABASE_URL_ENV.aws}`,
        `both reach the same server (${a.where} and ${b.where} are server ${a.identity})`,
        "point rollback:idc and rollback:aws (and the two URLs) at the IDC and the AWS database",
      ),
    );
  }
}

async function reach(side: Side, inputs: PreflightInputs, env: NodeJS.ProcessEnv, f: Findings): Promise<Seen | undefined> {
  const name = DATABASE_URL_ENV[side];
  const url = env[name];
  if (!url) {
    f.problems.push(new RollbackError("DSN_MISSING", name, "is not set", `export it as the runbook does: mysql://${inputs.endpoints[side].user}:PASSWORD@${inputs.endpoints[side].host}:${inputs.endpoints[side].port}/${inputs.endpoints[side].database}`));
    return undefined;
  }
  let dsn: Dsn;
  try {
    dsn = parseDsn(url, name);
  } catch (e) {
    f.problems.push(e as RollbackError);
    return undefined;
  }
  const want = inputs.endpoints[side];
  const mismatch = (["host", "port", "database", "user"] as const).filter((k) => String(dsn[k]) !== String(want[k]));
  if (mismatch.length > 0) {
    f.problems.push(
      new RollbackError("DSN_MISMATCH", name, `${mismatch.map((k) => `${k} is ${dsn[k]}, rollback:${side}.${k} says ${want[k]}`).join("; ")}`, "the runbook connects where the config says: check the one that is wrong"),
    );
    return undefined;
  }
  let conn;
  try {
    conn = await connect(dsn);
  } catch (e) {
    // R10 "IDC itself broken": a server that does not answer at all is what idc-health restarts
    // next, so the runbook must not stop here; refused credentials or TLS are problems still.
    if (side === "idc" && inputs.idcMysql.restartIfUnhealthy && isRollbackError(e) && NOT_ANSWERING.test(e.problem)) {
      f.notChecked = `idc: the server does not answer (${e.problem}); idc-health restarts the container ${inputs.idcMysql.containerName} next, so its credentials, TLS and identity are not checked`;
      return undefined;
    }
    f.problems.push(e as RollbackError);
    return undefined;
  }
  try {
    const info = await readServerInfo(conn);
    const [idRows] = await conn.query<RowDataPacket[]>(serverIdentitySql(info));
    const tls = describeTls(await tlsOf(conn));
    const where = describeDsn(dsn);
    const identity = String(idRows[0].id);
    f.evidence.push(`${side}: ${describeServer(info)} at ${where}, server ${identity}, TLS: ${tls}`);
    return { side, where, identity };
  } finally {
    await conn.end();
  }
}
