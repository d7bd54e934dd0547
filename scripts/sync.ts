import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { syncDatabases } from "../lib/data";
import { COMPARE_FLAGS, compareOptions } from "../lib/data/cli-options";
import { DEFAULT_MAX_SHRINK_PCT, guardLine } from "../lib/data/guard";
import { syncLines, verifyLines } from "../lib/data/report";

const HELP = `usage: npx tsx scripts/sync.ts [options]

Makes the database in TARGET_DATABASE_URL equal to the one in SOURCE_DATABASE_URL
(mysql://user:pass@host:port/db, from the environment only): inserts missing rows, updates
changed ones, deletes extra ones, one transaction per chunk, then verifies. Killed at any
moment, a rerun resumes and converges.

  --tables a,b          only these tables            --exclude c,d       skip these tables
  --dry-run             report what would change, change nothing
  --chunk-size N        rows per chunk (10000)       --chunk-time MS     adapt chunk size to MS per chunk
  --allow-triggers      write into tables that have triggers on the target
  --max-shrink-pct N    refuse the whole sync, before any write, when a target table would lose
                        more than N % of its rows (5; 100 disables): a source missing rows is
                        more likely an incomplete load than users' deletes
  --allow-shrink a,b    tables whose shrinking is intended (exempt from --max-shrink-pct)
  --state FILE          resume state (.rollback/sync-<pair>.json)   --restart   ignore a previous run's state
  --passes N            sync passes at most (3)      --samples N         sample keys per kind (10)
  --rounds N            verify: re-compare tables that saw writes (3)
  --assume-quiet        verify: do not prove that no writes happened during the comparison
  --replica             the target is a replica: check it caught up and verify, never write
  --replica-wait S      wait up to S seconds for the replica to catch up (0)
  --json                one JSON report on stdout    --quiet             no progress lines

exit 0 when the target equals the source, 1 when it does not (or --dry-run found changes),
2 error, or the shrink guard refused (nothing written; --dry-run reports the verdict and exits 2)`;

runMain(async (argv) => {
  const { values: v } = parseCli(argv, {
    ...COMPARE_FLAGS,
    "dry-run": { type: "boolean" },
    "allow-triggers": { type: "boolean" },
    "max-shrink-pct": { type: "string" },
    "allow-shrink": { type: "string" },
    state: { type: "string" },
    restart: { type: "boolean" },
    passes: { type: "string" },
  } as const);
  if (v.help) {
    process.stderr.write(`${HELP}\n`);
    return EXIT.ok;
  }
  const { options, progress } = compareOptions(v);
  const report = await syncDatabases({
    ...options,
    dryRun: Boolean(v["dry-run"]),
    allowTriggers: Boolean(v["allow-triggers"]),
    maxShrinkPct: numberFlag(v["max-shrink-pct"], "max-shrink-pct", DEFAULT_MAX_SHRINK_PCT),
    allowShrink: listFlag(v["allow-shrink"]),
    stateFile: v.state,
    restart: Boolean(v.restart),
    maxPasses: numberFlag(v.passes, "passes", 3, 1),
  });
  progress.done();
  if (report.guard) process.stderr.write(`${guardLine(report.guard)}${report.guard.refused ? " — a real sync would write nothing" : ""}\n`);
  for (const line of syncLines(report)) process.stderr.write(`${line}\n`);
  for (const f of report.integrity) {
    process.stderr.write(`integrity: ${f.table} -> ${f.parentTable} (${f.constraint}): ${f.targetOrphans} orphan rows on the target, ${f.sourceOrphans} on the source\n`);
  }
  if (report.verify) for (const line of verifyLines(report.verify).filter((l) => !l.includes(": identical"))) process.stderr.write(`verify ${line}\n`);
  const what = report.dryRun ? "would insert" : "inserted";
  process.stderr.write(
    `sync: ${report.identical ? "target EQUALS source" : report.dryRun ? "changes pending" : "target DIFFERS from source"} — ${what} ${report.inserted}, ` +
      `${report.dryRun ? "update" : "updated"} ${report.updated}, ${report.dryRun ? "delete" : "deleted"} ${report.deleted} in ${report.durationMs} ms` +
      `${report.resumed ? ` (resumed from ${report.resumed.startedAt})` : ""}\n`,
  );
  if (v.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  if (report.guard?.refused) return EXIT.error;
  return report.identical ? EXIT.ok : EXIT.failed;
});
