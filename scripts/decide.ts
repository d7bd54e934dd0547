import { readFile } from "node:fs/promises";
import { EXIT, numberFlag, parseCli, runMain } from "../lib/cli";
import { Measurements, decide, measurementsFromVerify, parseThresholds, VerifyLike } from "../lib/decision";
import { dsnFromEnv } from "../lib/dsn";
import { RollbackError, messageOf } from "../lib/errors";
import { PerfReport, probe, readQuerySet } from "../lib/perf";
import { appendEntry } from "../lib/timeline";

const USAGE = `usage: npx tsx scripts/decide.ts [measurements] [--thresholds FILE] [--timeline FILE [--phase decision|verification]] [--json]

Decides whether to roll back (plan §5, R2) and shows every criterion's value, threshold and verdict.
Measurements (each optional; an unmeasured criterion is reported as such):
  --verify FILE            a scripts/verify.ts --json report with SOURCE = IDC (as at cut-over) and
                           TARGET = AWS: rows missing on AWS are data loss; its mismatchPct is the mismatch
  --lost-rows N            --mismatch-pct N   (override what --verify gives)
  --probe QUERIES.json     run the performance probe: env BASELINE_DATABASE_URL (IDC) and
                           CANDIDATE_DATABASE_URL (AWS); [--runs N] per round (default 30), 3 rounds,
                           the verdict is the median round's
                           [--baseline-label idc] [--candidate-label aws] (names in reports)
  --perf FILE              a saved probe report instead      --degradation-pct N   (override)
  --outage-min N           --error-rate-pct N
  --security-issue         --unrecoverable-error   (manual input)
Thresholds: --thresholds FILE (JSON), else env ROLLBACK_THRESHOLDS (JSON), else the plan's defaults
(any lost row, mismatch > 1 %, performance > 30 % worse, outage > 10 min, error rate > 5 %).
Exit 1 when the decision is to roll back, 0 when not, 2 on error.`;

async function readJson(file: string, flag: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new RollbackError("ARGS_INVALID", `${flag} ${file}`, `cannot read JSON: ${messageOf(e)}`);
  }
}

function asVerify(raw: unknown, file: string): VerifyLike {
  const r = raw as Partial<VerifyLike> | null;
  if (!r || typeof r.mismatchPct !== "number" || !Array.isArray(r.tables)) {
    throw new RollbackError("ARGS_INVALID", `--verify ${file}`, "is not a verify report (needs mismatchPct and tables[])", "save scripts/verify.ts --json output");
  }
  return r as VerifyLike;
}

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseCli(argv, {
    verify: { type: "string" },
    "lost-rows": { type: "string" },
    "mismatch-pct": { type: "string" },
    probe: { type: "string" },
    runs: { type: "string" },
    "baseline-label": { type: "string" },
    "candidate-label": { type: "string" },
    perf: { type: "string" },
    "degradation-pct": { type: "string" },
    "outage-min": { type: "string" },
    "error-rate-pct": { type: "string" },
    "security-issue": { type: "boolean" },
    "unrecoverable-error": { type: "boolean" },
    thresholds: { type: "string" },
    timeline: { type: "string" },
    phase: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean" },
  });
  if (v.help) {
    process.stderr.write(USAGE + "\n");
    return EXIT.ok;
  }
  if (v.probe && v.perf) throw new RollbackError("ARGS_INVALID", "--probe/--perf", "give one of them, not both");
  const phase = v.phase ?? "decision";
  if (phase !== "decision" && phase !== "verification") throw new RollbackError("ARGS_INVALID", "--phase", `"${phase}" is not decision or verification`);

  const thresholds = v.thresholds
    ? parseThresholds(await readJson(v.thresholds, "--thresholds"), v.thresholds)
    : parseThresholds(process.env.ROLLBACK_THRESHOLDS ? parseEnvJson(process.env.ROLLBACK_THRESHOLDS) : {}, "ROLLBACK_THRESHOLDS");

  const fromVerify = v.verify ? measurementsFromVerify(asVerify(await readJson(v.verify, "--verify"), v.verify)) : {};
  const t0 = Date.now();
  let perf: PerfReport | undefined;
  if (v.probe) {
    const queries = await readQuerySet(v.probe);
    perf = await probe({
      baseline: { label: v["baseline-label"] ?? "idc", dsn: dsnFromEnv("BASELINE_DATABASE_URL") },
      candidate: { label: v["candidate-label"] ?? "aws", dsn: dsnFromEnv("CANDIDATE_DATABASE_URL") },
      queries,
      runs: numberFlag(v.runs, "runs", 30, 1, 100_000),
    });
  } else if (v.perf) {
    perf = (await readJson(v.perf, "--perf")) as PerfReport;
    if (typeof perf?.degradationPct !== "number") throw new RollbackError("ARGS_INVALID", `--perf ${v.perf}`, "is not a probe report (needs degradationPct)");
  }
  // Percentages of a whole stay within 0-100; a degradation is -100 % (twice as fast) or worse.
  const RANGE = { "lost-rows": [0], "mismatch-pct": [0, 100], "degradation-pct": [-100], "outage-min": [0], "error-rate-pct": [0, 100] } as const;
  const optional = (flag: keyof typeof RANGE, fallback?: number) => {
    const [min, max] = RANGE[flag] as readonly [number, number?];
    return v[flag] === undefined ? fallback : numberFlag(v[flag], flag, 0, min, max);
  };
  const measurements: Measurements = {
    lostRows: optional("lost-rows", fromVerify.lostRows),
    mismatchPct: optional("mismatch-pct", fromVerify.mismatchPct),
    performanceDegradationPct: optional("degradation-pct", perf?.degradationPct),
    outageMin: optional("outage-min"),
    errorRatePct: optional("error-rate-pct"),
    criticalSecurityIssue: v["security-issue"] ? true : undefined,
    unrecoverableError: v["unrecoverable-error"] ? true : undefined,
  };
  // Nothing measured is not "nothing wrong": with no value for any criterion, say so (exit 2).
  if (Object.values(measurements).every((m) => m === undefined)) {
    throw new RollbackError(
      "NOTHING_MEASURED",
      "measurements",
      "none given: cannot decide whether to roll back",
      "pass at least one: --verify FILE, --lost-rows, --mismatch-pct, --probe/--perf, --outage-min, --error-rate-pct, --security-issue, --unrecoverable-error",
    );
  }
  const decision = decide(measurements, thresholds);

  if (perf) {
    process.stderr.write(
      `performance: p50 ${perf.candidateLabel} ${perf.candidateP50Ms.toFixed(2)} ms vs ${perf.baselineLabel} ${perf.baselineP50Ms.toFixed(2)} ms (${perf.degradationPct >= 0 ? "+" : ""}${perf.degradationPct.toFixed(1)} %)\n`,
    );
  }
  if (phase === "decision") {
    for (const c of decision.criteria) process.stderr.write(`${c.verdict.padEnd(12)} ${c.reason}\n`);
    process.stderr.write(`decision: ${decision.rollback ? "ROLL BACK" : "stay"}\n`);
  }
  const report = { ...decision, measurements, ...(perf ? { perf } : {}) };
  if (v.timeline) {
    const startedAt = new Date(t0).toISOString();
    const base = { phase, startedAt, budgetMs: null, exitCode: null } as const;
    if (perf) await appendEntry(v.timeline, { ...base, step: "perf", durationMs: Date.now() - t0, status: "ok", report: perf });
    // After the rollback only the comparison matters (checklist: performance compared), not a new decision.
    if (phase === "decision") await appendEntry(v.timeline, { ...base, step: "decide", durationMs: Date.now() - t0, status: "ok", report });
  }
  if (v.json) process.stdout.write(JSON.stringify(report) + "\n");
  return decision.rollback ? EXIT.failed : EXIT.ok;
}

function parseEnvJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RollbackError("ENV_INVALID", "ROLLBACK_THRESHOLDS", "is not JSON");
  }
}

runMain(main);
