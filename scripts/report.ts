import { basename, dirname, resolve } from "node:path";
import { EXIT, parseCli, runMain } from "../lib/cli";
import { notifierFromEnv } from "../lib/notify";
import { formatDuration } from "../lib/progress";
import { buildReport, changesFromEnv, contactsFromEnv, writeReport } from "../lib/report";
import { readTimeline, timelinePath } from "../lib/timeline";

const USAGE = `usage: npx tsx scripts/report.ts [--timeline FILE] [--out DIR] [--title TEXT] [--json]

Turns the rollback timeline (--timeline, else env ROLLBACK_TIMELINE, else .rollback/timeline.jsonl)
into DIR/timeline.json and DIR/report.md (DIR defaults to the timeline's directory): phases against
budgets, what changed where, verification, the plan's §6 checklist with evidence and the §7
follow-ups with owners. Optional env: ROLLBACK_CHANGES (JSON: dnsWeights, nginxUpstream,
connectionSecretArn, rdsDesiredState), ROLLBACK_CONTACTS (JSON, lib/contacts.ts),
ROLLBACK_WEBHOOK_URL (the run's end message to a Slack-compatible webhook).
Exit 1 when a step failed or a checklist item failed on its evidence; 0 otherwise, also when
items were not measured (they are FAIL in the report, and "ok" in --json is false); 2 on error.`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, {
    timeline: { type: "string" },
    out: { type: "string" },
    title: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean" },
  });
  if (values.help) {
    process.stderr.write(USAGE + "\n");
    return EXIT.ok;
  }
  const file = timelinePath(values.timeline);
  const changes = changesFromEnv();
  const contacts = contactsFromEnv();
  const entries = await readTimeline(file);
  const report = buildReport(entries, { title: values.title ?? "rollback", changes, contacts });
  const files = await writeReport(values.out ?? dirname(file), report);
  for (const c of report.checklist) {
    // The first judged piece of evidence (lines marked "·" are context).
    const first = c.evidence.find((e) => !e.startsWith("·")) ?? c.evidence[0] ?? "";
    process.stderr.write(`${c.pass ? "PASS" : "FAIL"} ${c.title}: ${first}\n`);
  }
  process.stderr.write(`report: ${files.reportMd}\n`);
  // The end message of the run (R9), when ROLLBACK_WEBHOOK_URL is set; a failed run escalates.
  await notifierFromEnv(`Rollback run ${basename(dirname(resolve(file)))}`, () => ({}))?.end(report.ok, [
    ...report.phases.map((p) => `${p.title}: ${p.status === "not-run" ? "not run" : `${formatDuration(p.durationMs)} of ${formatDuration(p.budgetMs)} (${p.status})`}`),
    ...report.checklist.filter((c) => !c.pass).map((c) => `Checklist FAIL: ${c.title}`),
    `Report: ${files.reportMd}`,
  ]);
  if (values.json) {
    const summary = {
      ok: report.ok,
      files,
      phases: report.phases.map((p) => ({ id: p.id, startedAt: p.startedAt, durationMs: p.durationMs, budgetMs: p.budgetMs, status: p.status })),
      checklist: report.checklist,
    };
    process.stdout.write(JSON.stringify(summary) + "\n");
  }
  // A run whose checks could not all be made (a plain `pulumi up` has no probe after the
  // rollback) is not a failed run: the report says what is missing, the exit code stays 0.
  const failedOnEvidence = report.failedSteps.length > 0 || report.checklist.some((c) => !c.pass && c.measured);
  return failedOnEvidence ? EXIT.failed : EXIT.ok;
}

runMain(main);
