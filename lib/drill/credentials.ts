import { randomBytes } from "node:crypto";
import { DATABASE } from "./shop";

/** Database users the drill creates with random passwords, so secrets are real and must stay out of every output. */
export interface DrillCredentials {
  /** The runbook's user (drain needs PROCESS). */
  readonly runbook: { user: string; password: string };
  /** The app's user, written into the connection secret. */
  readonly app: { user: string; password: string };
}

export function newCredentials(): DrillCredentials {
  const pw = () => randomBytes(12).toString("base64url");
  return { runbook: { user: "rollback", password: pw() }, app: { user: "app", password: pw() } };
}

/** Creates the users on a server ('%': the sandbox listens on 127.0.0.1 only). */
export function userStatements(c: DrillCredentials): string[] {
  return [
    `CREATE USER '${c.runbook.user}'@'%' IDENTIFIED BY '${c.runbook.password}'`,
    `GRANT ALL PRIVILEGES ON *.* TO '${c.runbook.user}'@'%'`,
    `CREATE USER '${c.app.user}'@'%' IDENTIFIED BY '${c.app.password}'`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${DATABASE}.* TO '${c.app.user}'@'%'`,
  ];
}

