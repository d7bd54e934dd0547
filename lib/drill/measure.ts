import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RollbackConfig } from "../config";
import { Decision, measurementsFromClients } from "../decision";
import { parseDsn } from "../dsn";
import { connect } from "../mysql";
import { lastEntry } from "../timeline";
import { DrillEnvironment, runScript } from "./environment";
import type { ClientStats } from "./load";
import type { RunbookResult } from "./runbook";
import type { Scenario } from "./scenarios";
import { probeQueries } from "./shop";
import type { View } from "./view";

/**
 * The decision (R2) from measurements, taken the way an operator would with scripts/decide.ts:
 * the data as verified at the cut-over (or, when the cut-over stopped, IDC against what the load
 * left on AWS), a performance probe on the app's path, what users saw on AWS, and the scenario's
 * manual input.
 */
export interface MeasureInput {
  readonly env: DrillEnvironment;
  readonly config: RollbackConfig;
  readonly scenario: Scenario;
  readonly cutover: RunbookResult;
  /** What users saw between the cut-over and now. */
  readonly onAws: ClientStats;
  readonly rows: number;
  readonly probeRuns: number;
  readonly timeline: string;
  readonly view: View;
}

export interface Measured {
  readonly decision: Decision;
  /** How the fault showed, in the measurements' words. */
  readonly detection: string[];
  /** The probe's query set (reused after the rollback). */
  readonly queries: string;
}

/** Whether a database answers on a path (the app's path to AWS may be down on purpose). */
async function answers(url: string): Promise<boolean> {
  try {
    const c = await connect(parseDsn(url, "probe"), { connectTimeout: 2_000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export async function measureAndDecide(i: MeasureInput): Promise<Measured> {
  const { env, view } = i;
  const detection: string[] = [];
  const verifyFile = join(env.dir, "cutover-verify.json");
  if (i.cutover.completed) {
    await writeFile(verifyFile, JSON.stringify(lastEntry(i.cutover.entries, "verify")?.report ?? null));
  } else {
    const failed = lastEntry(i.cutover.entries, i.cutover.failedStep!)!;
    detection.push(`the cut-over stopped at its ${failed.step} step (exit ${failed.exitCode}): nothing after it ran, so no traffic moved to AWS`);
    // What the load left on AWS: the same verify, IDC (complete) as the source.
    const { report } = await runScript(view, "scripts/verify.ts", ["--json"], { SOURCE_DATABASE_URL: env.url("idc", "direct"), TARGET_DATABASE_URL: env.url("aws", "direct") }, [0, 1]);
    await writeFile(verifyFile, JSON.stringify(report));
  }

  const args = ["--verify", verifyFile, "--timeline", i.timeline, "--json"];
  if (i.cutover.completed) {
    const s = i.onAws;
    const m = measurementsFromClients(s);
    args.push("--error-rate-pct", String(m.errorRatePct ?? 0), "--outage-min", String(m.outageMin));
    if (s.errors) detection.push(`users on AWS: ${s.errors} of ${s.requests} requests failed (${s.errorSamples.map((e) => e.error).join("; ")})`);
  }
  if (i.scenario.manual?.securityIssue) args.push("--security-issue");
  const queries = join(env.dir, "probe-queries.json");
  await writeFile(queries, JSON.stringify(probeQueries(i.rows)));
  if (await answers(env.url("aws", "app"))) args.push("--probe", queries, "--runs", String(i.probeRuns));
  else detection.push("AWS does not answer on the app's network path: performance not measured");

  const { report } = await runScript(
    view,
    "scripts/decide.ts",
    args,
    { BASELINE_DATABASE_URL: env.url("idc", "app"), CANDIDATE_DATABASE_URL: env.url("aws", "app"), ROLLBACK_THRESHOLDS: JSON.stringify(i.config.thresholds) },
    [0, 1],
  );
  const decision = report as Decision;
  detection.unshift(...decision.criteria.filter((c) => c.verdict === "rollback").map((c) => `decision: ${c.reason}`));
  return { decision, detection, queries };
}
