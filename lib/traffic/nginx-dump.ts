import { realpath } from "node:fs/promises";
import { resolve } from "node:path";
import { RollbackError } from "../errors";
import { describeResult, runCommand } from "./command";

/**
 * The dump command derived from the configured test command: the same argv (sudo, -p, -c, -e
 * included) with its `-t` turned into `-T`. `nginx -T` tests the config like `-t` and also
 * prints every file it read, each after a "# configuration file PATH:" line (nginx docs, "Command-line
 * parameters"), which is how a tool learns whether a file is really part of the running config.
 */
export function dumpArgv(testArgv: readonly string[], subject = "--test-cmd"): string[] {
  const i = testArgv.indexOf("-t");
  if (i === -1) {
    throw new RollbackError("COMMAND_INVALID", subject, `"${testArgv.join(" ")}" has no -t to turn into -T`, "give the dump command explicitly (--dump-cmd \"nginx -T ...\")");
  }
  return testArgv.map((w, j) => (j === i ? "-T" : w));
}

/** The files `nginx -T` says it read, in its order, from the dump's text. */
export function dumpedFiles(dump: string): string[] {
  return [...dump.matchAll(/^# configuration file (.+):$/gm)].map((m) => m[1]);
}

/** Runs the dump command and returns the files nginx's configuration is made of; a failed dump is an error naming it. */
export async function nginxConfigFiles(argv: readonly string[], timeoutMs?: number): Promise<string[]> {
  const r = await runCommand(argv, { timeoutMs });
  if (!r.ok) throw new RollbackError("NGINX_DUMP_FAILED", argv.join(" "), describeResult(r), "fix the running config (nginx -t) or the dump command first; nothing was written");
  const files = dumpedFiles(r.stdout);
  if (files.length === 0) throw new RollbackError("NGINX_DUMP_FAILED", argv.join(" "), "printed no '# configuration file' line", "is this nginx -T?");
  return files;
}

/**
 * Refuses `file` unless nginx's dump lists it (compared by real path, so a symlink in
 * sites-enabled and its target are the same file). A typo'd path would otherwise get an
 * upstream written where nginx never looks, and a "switch" that moved nothing.
 */
export async function requireIncluded(file: string, listed: readonly string[]): Promise<void> {
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  const want = await real(file);
  for (const f of listed) if ((await real(f)) === want) return;
  throw new RollbackError(
    "FILE_NOT_INCLUDED",
    file,
    `nginx's configuration does not include this file (nginx -T read ${listed.length} file(s): ${listed.slice(0, 5).join(", ")}${listed.length > 5 ? ", …" : ""})`,
    "check the path, or include it from nginx.conf first; nothing was written",
  );
}
