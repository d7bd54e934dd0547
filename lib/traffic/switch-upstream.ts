import { Upstream, formatServerList, renderUpstream } from "../nginx-upstream";
import { readIfExists, removeIfExists, sha256, withFileLock, writeFileAtomic } from "./atomic-file";
import { CommandResult, describeResult, runCommand } from "./command";
import { dumpArgv, nginxConfigFiles, requireIncluded } from "./nginx-dump";
import { type Probe, type ProbeResult, proveUpstream } from "./probe";
import { requireUpstreamFile, spliceUpstream } from "./upstream-file";

export const DEFAULT_TEST_CMD = "nginx -t";
export const DEFAULT_RELOAD_CMD = "nginx -s reload";

export interface SwitchOptions {
  /** The nginx file that holds the upstream block; other blocks in it are kept. nginx's config must include it. */
  readonly file: string;
  readonly upstream: Upstream;
  /** argv of the config test, e.g. splitCommand("nginx -t"). */
  readonly testCmd: readonly string[];
  /** argv of the reload, e.g. splitCommand("nginx -s reload"). */
  readonly reloadCmd: readonly string[];
  /** argv of the config dump; default: testCmd with its -t turned into -T (lib/traffic/nginx-dump.ts). */
  readonly dumpCmd?: readonly string[];
  /** Proof the new upstream answers through nginx; without one the report says the effect is unproven. */
  readonly probe?: Probe;
  /** How long the probe keeps trying after the reload before the switch is undone. */
  readonly probeTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** Aborted (SIGINT/SIGTERM in the script): the running command is ended and the previous file put back. */
  readonly signal?: AbortSignal;
  /** Human progress lines (stderr in the script). */
  readonly log?: (line: string) => void;
}

export type SwitchOutcome =
  /** The new file is in place, tested and reloaded (and proven, when a probe was given). */
  | "switched"
  /** The test, the reload or the probe failed; the previous file is back (and reloaded when a reload was attempted). */
  | "rolled-back"
  /** Interrupted (signal); the previous file is back (and reloaded when a reload was attempted). */
  | "interrupted"
  /** Putting the previous file back failed its test or reload: a person must look. */
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
  readonly test: CommandResult | null;
  readonly reload: CommandResult | null;
  /** Whether traffic through nginx was seen reaching the new set; `probe` is null when none was given. */
  readonly effect: { readonly proven: boolean; readonly probe: ProbeResult | null; readonly note: string };
  /** What the restore ran: the previous file's test and the reload back to it. */
  readonly restore: { readonly test: CommandResult | null; readonly reload: CommandResult | null } | null;
  readonly problem: string | null;
}

const UNPROVEN = "effect unproven: no probe was given (--probe-url/--probe-expect or --probe-mysql); the reload's exit code alone does not show where traffic goes";

/**
 * Points an nginx upstream at new servers: refuse a file nginx's config does not include or that
 * is not an upstream file, render (refusing invalid input before anything is written), write
 * atomically, `nginx -t`, reload, then prove through nginx that the new set answers. On a failed
 * test, reload or probe, or an interrupt, the previous file is put back. `nginx -s reload` only
 * signals the master, which re-checks the config and keeps the old one running if it fails; but
 * a reload command that failed part-way (a wrapper that timed out after signalling) may have
 * applied the new file, so after a failed reload the previous file is restored AND reloaded again.
 */
export async function switchUpstream(opts: SwitchOptions): Promise<SwitchReport> {
  const log = opts.log ?? (() => undefined);
  const block = renderUpstream(opts.upstream);
  const signal = opts.signal;
  const run = (argv: readonly string[], interruptible = true) =>
    runCommand(argv, { timeoutMs: opts.commandTimeoutMs, signal: interruptible ? signal : undefined });

  return withFileLock(opts.file, async () => {
    await requireIncluded(opts.file, await nginxConfigFiles(opts.dumpCmd ?? dumpArgv(opts.testCmd), opts.commandTimeoutMs));
    const previous = await readIfExists(opts.file);
    requireUpstreamFile(previous ?? "", opts.file);
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
    const unproven = { proven: false, probe: null, note: UNPROVEN };
    const undo = async (reloadBack: boolean, r: Omit<SwitchReport, "ok" | "outcome" | "problem" | "restore">, problem: string) =>
      finish({ ...r, restore: await putBack(previous, changed, reloadBack) }, problem);

    if (signal?.aborted) return undo(false, { ...base, test: null, reload: null, effect: unproven }, interrupted("before writing"));
    if (changed) await writeFileAtomic(opts.file, nextText);
    log(`${changed ? "wrote" : "unchanged"} ${opts.file}: upstream ${opts.upstream.name} -> ${base.servers}`);

    const test = await run(opts.testCmd);
    log(`test: ${describeResult(test)}`);
    if (signal?.aborted) return undo(false, { ...base, test, reload: null, effect: unproven }, interrupted("during the config test"));
    if (!test.ok) return undo(false, { ...base, test, reload: null, effect: unproven }, `config test failed: ${describeResult(test)}`);

    const reload = await run(opts.reloadCmd);
    log(`reload: ${describeResult(reload)}`);
    if (signal?.aborted) return undo(true, { ...base, test, reload, effect: unproven }, interrupted("during or after the reload"));
    if (!reload.ok) return undo(true, { ...base, test, reload, effect: unproven }, `reload failed: ${describeResult(reload)}`);

    if (!opts.probe) {
      log(UNPROVEN);
      return finish({ ...base, test, reload, effect: unproven, restore: null }, null);
    }
    const timeoutMs = opts.probeTimeoutMs ?? 10_000;
    const probe = await proveUpstream(opts.probe, opts.upstream.servers, { timeoutMs, signal });
    log(`probe: ${probe.ok ? "passed" : "FAILED"} after ${probe.attempts} attempt(s): ${probe.expected}; last answer: ${probe.lastAnswer}`);
    const effect = { proven: probe.ok, probe, note: probe.ok ? `proven: ${probe.expected}` : `not proven: ${probe.expected}; last answer: ${probe.lastAnswer}` };
    if (signal?.aborted) return undo(true, { ...base, test, reload, effect }, interrupted("while probing the new upstream"));
    if (!probe.ok) return undo(true, { ...base, test, reload, effect }, `the new upstream did not answer through nginx within ${timeoutMs / 1000} s: ${effect.note}`);
    return finish({ ...base, test, reload, effect, restore: null }, null);
  });

  function interrupted(when: string): string {
    return `interrupted (${String(signal?.reason ?? "aborted")}) ${when}`;
  }

  /** Puts the previous file back; its commands are not interruptible: a second Ctrl-C must not leave nginx half-restored. */
  async function putBack(previous: string | undefined, changed: boolean, reloadBack: boolean): Promise<SwitchReport["restore"]> {
    if (changed) {
      if (previous === undefined) await removeIfExists(opts.file);
      else await writeFileAtomic(opts.file, previous);
      log(`restored the previous ${opts.file}`);
    }
    if (!reloadBack) return { test: null, reload: null };
    const test = await run(opts.testCmd, false);
    const reload = test.ok ? await run(opts.reloadCmd, false) : null;
    log(`reload back: ${reload ? describeResult(reload) : `skipped, the previous config fails its test too: ${describeResult(test)}`}`);
    return { test, reload };
  }

  function finish(r: Omit<SwitchReport, "ok" | "outcome" | "problem">, problem: string | null): SwitchReport {
    const back = r.restore;
    const restoreFailed = back !== null && back.test !== null && !(back.test.ok && back.reload?.ok);
    const outcome: SwitchOutcome =
      problem === null ? "switched" : restoreFailed ? "restore-failed" : signal?.aborted ? "interrupted" : "rolled-back";
    const note = !restoreFailed
      ? ""
      : `; the previous file is back but reloading it failed too (${describeResult(back.reload ?? back.test!)}): check nginx now`;
    return { ok: outcome === "switched", outcome, ...r, problem: problem === null ? null : problem + note };
  }
}
