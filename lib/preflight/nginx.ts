import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { RollbackError } from "../errors";
import { splitCommand } from "../traffic/command";
import { dumpArgv, nginxConfigFiles, requireIncluded } from "../traffic/nginx-dump";
import { requireUpstreamFile } from "../traffic/upstream-file";
import type { Findings } from "./check";
import type { PreflightInputs } from "./inputs";

/**
 * The nginx steps' assumptions, checked the way those steps will act: the commands split by
 * the parser switch-upstream uses (lib/traffic/command.ts), the dump command derived as it
 * derives it, the upstream file one that `nginx -T` lists (lib/traffic/nginx-dump.ts, shared
 * with switch-upstream) and made of upstream blocks only (as the switch requires), and the folders the switch and `maintenance on` write into present and
 * writable. Over SSH the files and nginx are on another host: this process cannot see them.
 */
export async function checkNginx(n: PreflightInputs["nginx"], f: Findings, timeoutMs = 30_000): Promise<void> {
  const test = splitCommand(n.testCommand, "rollback:nginx.testCommand");
  splitCommand(n.reloadCommand, "rollback:nginx.reloadCommand");
  const dump = n.dumpCommand ? splitCommand(n.dumpCommand, "rollback:nginx.dumpCommand") : dumpArgv(test, "rollback:nginx.testCommand");
  if (n.sshHost) {
    f.notChecked = `nginx runs on ${n.sshHost} (over SSH): its files and nginx -T are not visible from here; on that host run scripts/preflight.ts with --only nginx`;
    return;
  }
  const files = await nginxConfigFiles(dump, timeoutMs);
  await requireIncluded(n.file, files);
  // The switch rewrites one block of the file and keeps the rest: it refuses a file of other things.
  requireUpstreamFile(await readFile(n.file, "utf8"), n.file);
  f.evidence.push(`${dump.join(" ")} lists ${files.length} file(s), ${n.file} among them, a file of upstream blocks`);
  // switch-upstream writes a temp file next to the target and renames it; maintenance creates the flag file.
  for (const [key, file] of [["file", n.file], ["maintenanceFlag", n.maintenanceFlag]] as const) {
    const dir = dirname(file);
    const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
    if (!isDir) {
      f.problems.push(new RollbackError("FILE_UNWRITABLE", `rollback:nginx.${key}`, `folder ${dir} does not exist`, "create it (the step writes there)"));
      continue;
    }
    await access(dir, constants.W_OK).then(
      () => f.evidence.push(`${dir} is writable (${key})`),
      () => f.problems.push(new RollbackError("FILE_UNWRITABLE", `rollback:nginx.${key}`, `folder ${dir} is not writable by this user`, "run as the user the runbook runs as, or fix the folder's permissions")),
    );
  }
}
