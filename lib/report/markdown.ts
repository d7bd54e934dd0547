import { formatDuration } from "../progress";
import { pct } from "./evidence";
import type { RollbackReport } from "./index";

/** report.md: what people read after the rollback (and review after a drill, plan §10). */
const WHEN_TITLE = { immediate: "Immediately", "24h": "Within 24 hours", week: "Within a week" } as const;

/** Table cells: pipes and newlines would break the row. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)];
}

function value(v: number | boolean | null, unit: string): string {
  if (v === null) return "not measured";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return `${Number.isInteger(v) ? v : v.toFixed(2)}${unit ? ` ${unit}` : ""}`;
}

export function renderMarkdown(r: RollbackReport): string {
  const out: string[] = [
    `# Rollback report: ${r.title}`,
    "",
    `**Result: ${r.ok ? "OK" : "NOT OK"}** — started ${r.startedAt ?? "?"}, took ${formatDuration(r.durationMs)} (plan: 60 min). Generated ${r.generatedAt}.`,
    "",
    "## Decision (plan §5)",
    "",
  ];
  if (r.decision) {
    out.push(
      `Rollback: **${r.decision.rollback ? "yes" : "no"}**${r.decision.reasons.length ? ` — ${r.decision.reasons.join("; ")}` : ""}`,
      "",
      ...table(
        ["Criterion", "Value", "Rolls back above", "Verdict"],
        r.decision.criteria.map((c) => [c.title, value(c.value, c.unit), typeof c.threshold === "boolean" ? "reported" : `${c.threshold} ${c.unit}`, c.verdict]),
      ),
    );
  } else {
    out.push("No decision recorded in the timeline (run `scripts/decide.ts --timeline …`).");
  }
  out.push(
    "",
    "## Phases against budgets (plan §3)",
    "",
    ...table(
      ["Phase", "Started", "Took", "Budget", "Ended at", "Status"],
      r.phases.map((p) => [
        p.title,
        p.startedAt ?? "-",
        formatDuration(p.durationMs),
        formatDuration(p.budgetMs),
        p.endedAtMin === null ? "-" : `${formatDuration(p.endedAtMin * 60_000)} into the run (window: by ${formatDuration(p.windowEndMin * 60_000)})`,
        p.status,
      ]),
    ),
    "",
    "## Steps",
    "",
    ...table(
      ["Step", "Phase", "Status", "Took", "Exit", "Evidence"],
      r.steps.map((s) => [s.step, s.phase, s.status, formatDuration(s.durationMs), s.exitCode === null ? "-" : String(s.exitCode), [s.summary, s.note].filter(Boolean).join(" — ")]),
    ),
    "",
    "## What changed where",
    "",
    ...(r.changes.length ? table(["Layer", "Where", "Change"], r.changes.map((c) => [c.layer, c.where, c.change])) : ["Nothing recorded."]),
    "",
    "## Verification",
    "",
    r.verification
      ? `IDC and AWS ${r.verification.identical ? "are identical" : "DIFFER"}: ${r.verification.rowsCompared ?? "?"} rows compared, mismatch ${pct(r.verification.mismatchPct ?? undefined, 4)}.`
      : "No verify report in the timeline.",
    "",
    "## Checklist (plan §6)",
    "",
    ...r.checklist.flatMap((c) => [`- [${c.pass ? "x" : " "}] **${c.title}: ${c.pass ? "PASS" : "FAIL"}**`, ...c.evidence.map((e) => `  - ${e}`)]),
    "",
    "## Follow-up actions (plan §7)",
  );
  for (const when of ["immediate", "24h", "week"] as const) {
    out.push("", `### ${WHEN_TITLE[when]}`, "");
    for (const f of r.followUps.filter((x) => x.when === when)) {
      out.push(`- [ ] ${f.action} — owner: ${f.owner}`, ...f.facts.map((x) => `  - ${x}`));
    }
  }
  out.push("", "## Contacts (plan §4)", "");
  if (r.contacts) {
    const c = r.contacts;
    out.push(
      ...table(
        ["Role", "Name", "Reach"],
        [
          ["System admin", c.systemAdmin.name, c.systemAdmin.reach],
          ["DBA", c.dba.name, c.dba.reach],
          ["App team", c.appTeam.name, c.appTeam.reach],
          ["Infra team", c.infraTeam.name, c.infraTeam.reach],
          ["Emergency", c.emergency.name, c.emergency.reach],
        ],
      ),
    );
  } else {
    out.push("Not configured (set `rollback:contacts`, or env ROLLBACK_CONTACTS for scripts/report.ts).");
  }
  return out.join("\n") + "\n";
}
