import { EXIT, parseCli, runMain } from "../lib/cli";
import { verifyDatabases } from "../lib/data";
import { COMPARE_FLAGS, compareOptions } from "../lib/data/cli-options";
import { verifyLines } from "../lib/data/report";

const HELP = `usage: npx tsx scripts/verify.ts [options]

Compares the database in TARGET_DATABASE_URL with the one in SOURCE_DATABASE_URL
(mysql://user:pass@host:port/db, from the environment only): per table row counts, last
update time, schema differences and an exact row diff (missing, extra, changed, sample keys),
and the triggers, views, stored routines and events of both databases (normalised SHOW CREATE).

  --tables a,b          only these tables            --exclude c,d     skip these tables
  --chunk-size N        rows per chunk (10000)       --chunk-time MS   adapt chunk size to MS per chunk
  --samples N           sample keys per kind (10)    --rounds N        re-compare tables that saw writes (3)
  --assume-quiet        do not prove that no writes happened during the comparison
  --replica             first check that the target replica applied everything the source committed
  --replica-wait S      wait up to S seconds for the replica to catch up (0)
  --compare-definers    also compare the DEFINER of triggers, views, routines and events
                        (default: ignored — RDS's master user and IDC's root differ legitimately)
  --skip-schema-objects compare rows and table schemas only (the report then has objects: null)
  --json                one JSON report on stdout    --quiet           no progress lines

exit 0 identical, 1 differences, 2 error (bad input, connection, unsupported table)`;

runMain(async (argv) => {
  const { values: v } = parseCli(argv, COMPARE_FLAGS);
  if (v.help) {
    process.stderr.write(`${HELP}\n`);
    return EXIT.ok;
  }
  const { options, progress } = compareOptions(v);
  const report = await verifyDatabases(options);
  progress.done();
  if (report.replica) {
    const r = report.replica;
    process.stderr.write(
      `replica: ${r.caughtUp ? "caught up" : "NOT caught up"} (${r.method}; source ${r.sourcePosition ?? "?"}, replica ${r.replicaPosition ?? "?"}, ${r.secondsBehind ?? "?"} s behind)\n`,
    );
  }
  for (const line of verifyLines(report)) process.stderr.write(`${line}\n`);
  process.stderr.write(
    `verify: ${report.identical ? "IDENTICAL" : "DIFFERENT"} — ${report.rowsCompared} rows compared, mismatch ${report.mismatchPct}% in ${report.durationMs} ms\n`,
  );
  if (v.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.identical ? EXIT.ok : EXIT.failed;
});
