import { type RdsSeen, checkConnectionSecret, checkRds, checkRoute53 } from "./aws";
import { type CheckId, type CheckResult, runCheck } from "./check";
import { checkDatabases } from "./databases";
import { checkBackups, checkDocker } from "./host";
import type { PreflightInputs } from "./inputs";
import { checkNginx } from "./nginx";

export type { CheckId, CheckResult } from "./check";
export { DATABASE_URL_ENV } from "./databases";
export { type PreflightInputs, parseInputs, preflightInputs } from "./inputs";

export const CHECK_IDS: readonly CheckId[] = ["databases", "nginx", "connection-secret", "route53", "rds", "docker", "backups"];

export interface PreflightOptions {
  /** Where the database URLs are read (process.env in the script). */
  readonly env: NodeJS.ProcessEnv;
  /** Run only these checks (default: all). */
  readonly only?: readonly CheckId[];
  /** This process runs on the nginx host (reached by the runbook over SSH): check nginx here. */
  readonly onNginxHost?: boolean;
  readonly dockerBin?: string;
}

export interface PreflightReport {
  /** True when no check found a problem (not-checked ones are listed, not failed). */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

/**
 * Every assumption a later step depends on, checked without changing anything; the checks run
 * side by side and each reports on its own, so one failure never hides another.
 */
export async function runPreflight(inputs: PreflightInputs, opts: PreflightOptions): Promise<PreflightReport> {
  // The cutover starts RDS in its first step: a stopped instance is expected then, and the
  // databases check needs its status to tell "stopped, rds-power starts it" from "unreachable".
  const seen: RdsSeen = {};
  const wanted = (id: CheckId) => !opts.only || opts.only.includes(id);
  const rds = wanted("rds") || (wanted("databases") && inputs.rds.desiredState === "available") ? await runCheck("rds", (f) => checkRds(inputs.rds, inputs.region, f, seen)) : undefined;
  const bodies: Record<Exclude<CheckId, "rds">, Parameters<typeof runCheck>[1]> = {
    databases: (f) => checkDatabases(inputs, opts.env, f, seen),
    nginx: (f) => checkNginx(opts.onNginxHost ? { ...inputs.nginx, sshHost: undefined } : inputs.nginx, f),
    "connection-secret": (f) => checkConnectionSecret(inputs.connectionSecret, inputs.region, f),
    route53: (f) => checkRoute53(inputs.route53, f),
    docker: (f) => checkDocker(inputs.idcMysql, f, opts.dockerBin),
    backups: (f) => checkBackups(inputs.backupPaths, f),
  };
  const checks = await Promise.all(CHECK_IDS.filter(wanted).map((id) => (id === "rds" ? rds! : runCheck(id, bodies[id]))));
  return { ok: checks.every((c) => c.status !== "fail"), checks };
}

/** The human form: one line per problem, one per check that passed or could not look. */
export function formatReport(r: PreflightReport): string[] {
  const lines = r.checks.flatMap((c) =>
    c.status === "fail"
      ? c.problems.map((p) => `FAIL ${c.id}: ${p.message}`)
      : c.status === "not-checked"
        ? [`NOT CHECKED ${c.id}: ${c.reason}`]
        : [`ok   ${c.id}: ${c.evidence.join("; ")}`],
  );
  const failed = r.checks.filter((c) => c.status === "fail").length;
  const unseen = r.checks.filter((c) => c.status === "not-checked").length;
  lines.push(
    r.ok
      ? `preflight: ${r.checks.length - unseen} check(s) passed${unseen ? `, ${unseen} not checked here` : ""}`
      : `preflight: ${r.checks.reduce((n, c) => n + c.problems.length, 0)} problem(s) in ${failed} check(s); fix them before the rollback`,
  );
  return lines;
}
