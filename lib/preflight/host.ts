import { stat } from "node:fs/promises";
import { RollbackError } from "../errors";
import { describeResult, runCommand } from "../traffic/command";
import type { Findings } from "./check";
import type { PreflightInputs } from "./inputs";

/**
 * The IDC docker daemon answers and knows the container idc-health checks and restarts. Through
 * the docker CLI with `--host`, as scripts/idc-mysql.ts reaches it (DOCKER_HOST's syntax:
 * unix://, tcp://, ssh://); read-only calls only.
 */
export async function checkDocker(d: PreflightInputs["idcMysql"], f: Findings, dockerBin = "docker", timeoutMs = 20_000): Promise<void> {
  const subject = `rollback:idcMysql.dockerHost ${d.dockerHost}`;
  const docker = (args: string[]) => runCommand([dockerBin, "--host", d.dockerHost, ...args], { timeoutMs });
  const version = await docker(["version", "--format", "{{.Server.Version}}"]);
  if (!version.ok) throw new RollbackError("DOCKER_UNAVAILABLE", subject, `the docker host does not answer: ${describeResult(version)}`, "check the daemon, the URL and (ssh://) the runner's SSH access");
  const state = await docker(["container", "inspect", "--format", "{{.State.Status}}", d.containerName]);
  if (!state.ok) {
    throw /no such (object|container)/i.test(state.stderr)
      ? new RollbackError("CONTAINER_NOT_FOUND", `rollback:idcMysql.containerName ${d.containerName}`, `no such container on ${d.dockerHost}`, "check the name with docker ps -a")
      : new RollbackError("DOCKER_UNAVAILABLE", subject, describeResult(state));
  }
  f.evidence.push(`docker ${version.stdout.trim()} at ${d.dockerHost}; container ${d.containerName} is ${state.stdout.trim()}`);
}

/**
 * At least one backup path exists (R10: several backups, an alternative path). Whether a backup
 * is valid, recent and complete is backup-check's job at run time (scripts/backup.ts verify).
 */
export async function checkBackups(paths: readonly string[], f: Findings): Promise<void> {
  const found: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (s) found.push(p);
    else f.evidence.push(`${p}: missing`);
  }
  if (found.length === 0) throw new RollbackError("BACKUP_MISSING", "rollback:runbook.backupPaths", `none of the ${paths.length} path(s) exists: ${paths.join(", ")}`, "fix the paths, or take a backup now (scripts/backup.ts create)");
  f.evidence.push(`${found.length} of ${paths.length} backup path(s) exist: ${found.join(", ")}`);
}
