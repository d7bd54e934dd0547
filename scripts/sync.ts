import { EXIT, interruptSignal, listFlag, numberFlag, parseCli, runMain, signalExitCode } from "../lib/cli";
import { isRollbackError } from "../lib/errors";
import { syncDatabases } from "../lib/data";
import { restoreSavedTriggers } from "../lib/data/sync";
import { COMPARE_FLAGS, compareOptions } from "../lib/data/cli-options";
import { DEFAULT_MAX_SHRINK_PCT, DEFAULT_MIN_SHRINK_ROWS, guardLine, loadCutoverProof } from "../lib/data/guard";
import { syncLines, verifyLines } from "../lib/data/report";

const HELP = `usage: npx tsx scripts/sync.ts [options]

Makes the database in TARGET_DATABASE_URL equal to the one in SOURCE_DATABASE_URL
(mysql://user:pass@host:port/db, from the environment only): inserts missing rows, updates
changed ones, deletes extra ones, one transaction per chunk, then verifies. Killed at any
moment, a rerun resumes and converges.

  --tables a,b          only these tables            --exclude c,d       skip these tables
  --dry-run             report what would change, change nothing
  --chunk-size N        rows per chunk (10000)       --chunk-time MS     adapt chunk size to MS per chunk
  --refuse-triggers     refuse tables with triggers on the target (default: save their definitions
                        in the state file, drop them, sync, recreate them exactly and prove it)
  --fix-schema-objects  create/replace on the target the triggers, views, routines and events that
                        are missing there or differ from the source's (target-only ones are kept)
  --compare-definers    compare DEFINERs of those objects too (default: ignored)
  --skip-schema-objects leave those objects out of the final verify
  --restore-triggers    only recreate the triggers a killed sync saved in its state file, then exit
  --max-shrink-pct N    refuse the whole sync, before any write, when a target table would lose
                        more than N % of its rows (5; 100 disables): a source missing rows is
                        more likely an incomplete load than users' deletes
  --allow-shrink a,b    tables whose shrinking is intended (exempt from --max-shrink-pct)
  --min-shrink-rows N   a table losing N rows or fewer passes the guard whatever its % (10)
  --cutover-proof FILE  the forward run's proof (its timeline.jsonl or verify --json report):
                        a table the cut-over proved complete, whose target still holds the rows
                        counted then, may shrink (users deleted rows on AWS after the cut-over)
  --state FILE          resume state (.rollback/sync-<pair>.json; the directory must exist; a file
                        this tool did not write is refused)   --restart   discard a previous run's progress
  --passes N            sync passes at most (3)      --samples N         sample keys per kind (10)
  --rounds N            verify: re-compare tables that saw writes (3)
  --assume-quiet        verify: do not prove that no writes happened during the comparison
  --replica             the target is a replica: check it caught up and verify, never write
  --replica-wait S      wait up to S seconds for the replica to catch up (0)
  --json                one JSON report on stdout    --quiet             no progress lines

exit 0 when the target equals the source, 1 when it does not (or --dry-run found changes),
2 error, or the shrink guard refused (nothing written; --dry-run reports the verdict and exits 2),
130 interrupted (Ctrl-C: the chunk in progress is finished or rolled back, triggers recreated;
a rerun resumes). A second sync into the same database is refused (SYNC_BUSY).`;

runMain(async (argv) => {
  const { values: v } = parseCli(argv, {
    ...COMPARE_FLAGS,
    "dry-run": { type: "boolean" },
    "refuse-triggers": { type: "boolean" },
    "restore-triggers": { type: "boolean" },
    "fix-schema-objects": { type: "boolean" },
    "max-shrink-pct": { type: "string" },
    "allow-shrink": { type: "string" },
    "min-shrink-rows": { type: "string" },
    "cutover-proof": { type: "string" },
    state: { type: "string" },
    restart: { type: "boolean" },
    passes: { type: "string" },
  } as const);
  if (v.help) {
    process.stderr.write(`${HELP}\n`);
    return EXIT.ok;
  }
  const { options, progress } = compareOptions(v);
  if (v["restore-triggers"]) {
    const r = await restoreSavedTriggers({ ...options, stateFile: v.state });
    process.stderr.write(
      r.saved.length
        ? `sync: ${r.saved.length} saved trigger(s) present with their saved definitions; recreated: ${r.recreated.join(", ") || "none (all were there)"}\n`
        : `sync: no saved triggers in ${r.stateFile}\n`,
    );
    if (v.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    return EXIT.ok;
  }
  // Ctrl-C (or SIGTERM from step.ts) stops between chunks: the open chunk ends, triggers are
  // recreated, the state is kept for a rerun (kill -9 leaves the same state).
  const signal = interruptSignal();
  const report = await syncDatabases({
    ...options,
    signal,
    onGuard: (g) => process.stderr.write(`${guardLine(g)}${g.refused && v["dry-run"] ? " — a real sync would write nothing" : ""}\n`),
    dryRun: Boolean(v["dry-run"]),
    refuseTriggers: Boolean(v["refuse-triggers"]),
    fixSchemaObjects: Boolean(v["fix-schema-objects"]),
    maxShrinkPct: numberFlag(v["max-shrink-pct"], "max-shrink-pct", DEFAULT_MAX_SHRINK_PCT),
    allowShrink: listFlag(v["allow-shrink"]),
    minShrinkRows: numberFlag(v["min-shrink-rows"], "min-shrink-rows", DEFAULT_MIN_SHRINK_ROWS),
    cutoverProof: v["cutover-proof"] ? await loadCutoverProof(v["cutover-proof"]) : undefined,
    stateFile: v.state,
    restart: Boolean(v.restart),
    maxPasses: numberFlag(v.passes, "passes", 3, 1),
  }).catch((e: unknown) => {
    if (!signal.aborted || !isRollbackError(e) || e.code !== "ABORTED") throw e;
    return null;
  });
  if (!report) {
    progress.done();
    process.stderr.write("sync: interrupted — a rerun resumes (the target's triggers were recreated)\n");
    if (v.json) process.stdout.write(`${JSON.stringify({ ok: false, interrupted: true })}\n`);
    return signalExitCode(signal.reason as NodeJS.Signals);
  }
  progress.done();
  if (report.triggers) {
    process.stderr.write(`triggers: ${report.triggers.dropped.length} dropped for the sync, ${report.triggers.recreated.length} recreated, all ${report.triggers.saved.length} proven equal to their saved definitions\n`);
  }
  for (const line of syncLines(report)) process.stderr.write(`${line}\n`);
  for (const f of report.integrity) {
    process.stderr.write(`integrity: ${f.table} -> ${f.parentTable} (${f.constraint}): ${f.targetOrphans} orphan rows on the target, ${f.sourceOrphans} on the source\n`);
  }
  if (report.verify) for (const line of verifyLines(report.verify).filter((l) => !l.includes(": identical"))) process.stderr.write(`verify ${line}\n`);
  const what = report.dryRun ? "would insert" : "inserted";
  process.stderr.write(
    `sync: ${report.identical ? "target EQUALS source" : report.dryRun ? "changes pending" : "target DIFFERS from source"} — ${what} ${report.inserted}, ` +
      `${report.dryRun ? "update" : "updated"} ${report.updated}, ${report.dryRun ? "delete" : "deleted"} ${report.deleted} in ${report.durationMs} ms` +
      `${report.resumed ? ` (resumed a run started ${report.resumed.startedAt}, which had inserted ${report.resumed.earlier.inserted}, updated ${report.resumed.earlier.updated}, deleted ${report.resumed.earlier.deleted})` : ""}\n`,
  );
  if (v.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  if (report.guard?.refused) return EXIT.error;
  return report.identical ? EXIT.ok : EXIT.failed;
});
