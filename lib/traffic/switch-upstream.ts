import { Upstream, formatServerList, renderUpstream } from "../nginx-upstream";
import { readIfExists, removeIfExists, sha256, withFileLock, writeFileAtomic } from "./atomic-file";
import { CommandResult, describeResult, runCommand } from "./command";
import { spliceUpstream } from "./upstream-file";

export const DEFAULT_TEST_CMD = "nginx -t";
export const DEFAULT_RELOAD_CMD = "nginx -s reload";

export interface SwitchOptions {
  /** The nginx file that holds (or will hold) the upstream block; other blocks in it are kept. */
  readonly file: string;
  readonly upstream: Upstream;
  /** argv of the config test, e.g. splitCommand("nginx -t"). */
  readonly testCmd: readonly string[];
  /** argv of the reload, e.g. splitCommand("nginx -s reload"). */
  readonly reloadCmd: readonly string[];
  readonly commandTimeoutMs?: number;
  /** Human progress lines (stderr in the script). */
  readonly log?: (line: string) => void;
}

export type SwitchOutcome =
  /** The new file is in place, tested and reloaded. */
  | "switched"
  /** The test or the reload failed; the previous file is back (and reloaded when a reload was attempted). */
  | "rolled-back"
  /** The test or reload failed AND putting the previous file back failed too: a person must look. */
  | "restore-failed";

export interface SwitchReport {
  readonly ok: boolean;
  readonly outcome: SwitchOutcome;
  readonly file: string;
  readonly name: string;
  readonly kind: Upstream["kind"];
  readonly servers: string;
  /** False when the file already said exactly this (the test and reload still run: idempotent re-apply). */
  readonly changed: boolean;
  readonly previous: { readonly existed: boolean; readonly sha256: string | null };
  readonly next: { readonly sha256: string; readonly text: string };
  readonly test: CommandResult;
  readonly reload: CommandResult | null;
  /** What the restore ran: the previous file's test and the reload back to it. */
  readonly restore: { readonly test: CommandResult | null; readonly reload: CommandResult | null } | null;
  readonly problem: string | null;
}

/**
 * Points an nginx upstream at new servers: render (refusing invalid input before anything is
 * written), write atomically, `nginx -t`, reload; on a failed test or reload, put the previous
 * file back. `nginx -s reload` only signals the master, which re-checks the config and keeps the
 * old one running if it fails; but a reload command that failed part-way (a wrapper that timed
 * out after signalling) may have applied the new file, so after a failed reload the previous file
 * is restored AND reloaded again.
 */
export async function switchUpstream(opts: SwitchOptions): Promise<SwitchReport> {
  const log = opts.log ?? (() => undefined);
  const block = renderUpstream(opts.upstream);
  const run = (argv: readonly string[]) => runCommand(argv, { timeoutMs: opts.commandTimeoutMs });

  return withFileLock(opts.file, async () => {
    const previous = await readIfExists(opts.file);
    const nextText = spliceUpstream(previous, opts.upstream.name, block, opts.file);
    const changed = nextText !== previous;
    const base = {
      file: opts.file,
      name: opts.upstream.name,
      kind: opts.upstream.kind,
      servers: formatServerList(opts.upstream.servers),
      changed,
      previous: { existed: previous !== undefined, sha256: previous === undefined ? null : sha256(previous) },
      next: { sha256: sha256(nextText), text: nextText },
    };

    if (changed) await writeFileAtomic(opts.file, nextText);
    log(`${changed ? "wrote" : "unchanged"} ${opts.file}: upstream ${opts.upstream.name} -> ${base.servers}`);

    const test = await run(opts.testCmd);
    log(`test: ${describeResult(test)}`);
    if (!test.ok) {
      const restore = await putBack(previous, changed, false);
      return finish({ ...base, test, reload: null, restore }, `config test failed: ${describeResult(test)}`);
    }

    const reload = await run(opts.reloadCmd);
    log(`reload: ${describeResult(reload)}`);
    if (!reload.ok) {
      const restore = await putBack(previous, changed, true);
      return finish({ ...base, test, reload, restore }, `reload failed: ${describeResult(reload)}`);
    }
    return finish({ ...base, test, reload, restore: null }, null);
  });

  async function putBack(previous: string | undefined, changed: boolean, reloadBack: boolean): Promise<SwitchReport["restore"]> {
    if (changed) {
      if (previous === undefined) await removeIfExists(opts.file);
      else await writeFileAtomic(opts.file, previous);
      log(`restored the previous ${opts.file}`);
    }
    if (!reloadBack) return { test: null, reload: null };
    const test = await run(opts.testCmd);
    const reload = test.ok ? await run(opts.reloadCmd) : null;
    log(`reload back: ${reload ? describeResult(reload) : `skipped, the previous config fails its test too: ${describeResult(test)}`}`);
    return { test, reload };
  }

  function finish(r: Omit<SwitchReport, "ok" | "outcome" | "problem">, problem: string | null): SwitchReport {
    const back = r.restore;
    const restoreFailed = back !== null && back.test !== null && !(back.test.ok && back.reload?.ok);
    const outcome: SwitchOutcome = problem === null ? "switched" : restoreFailed ? "restore-failed" : "rolled-back";
    const note = !restoreFailed
      ? ""
      : `; the previous file is back but reloading it failed too (${describeResult(back.reload ?? back.test)}): check nginx now`;
    return { ok: outcome === "switched", outcome, ...r, problem: problem === null ? null : problem + note };
  }
}
