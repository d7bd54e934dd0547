import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import type { Decision } from "../decision";
import { parseDsn } from "../dsn";
import { RollbackError } from "../errors";
import { connect } from "../mysql";
import { Notifier } from "../notify";
import { CHECK } from "../report";
import { obj, syncCounts, verifySummary } from "../report/evidence";
import { PHASES, StepId, STEPS } from "../runbook";
import { appendEntry, lastEntry, parseReport, phaseTimings, readTimeline, runChild, runStep, TimelineEntry } from "../timeline";
import { drillConfig, resolve } from "./config";
import { newCredentials } from "./credentials";
import { DrillEnvironment, scriptArgv, startEnvironment } from "./environment";
import { ClientStats, LoadGenerator } from "./load";
import { RunbookResult, runRunbook } from "./runbook";
import { Observed, Scenario, ScenarioName, scenarioByName } from "./scenarios";
import { DATABASE, loadRows, probeQueries } from "./shop";
import type { View } from "./view";

/**
 * The rollback drill (R11): on one machine, IDC and AWS stand-ins, nginx and the demo app; data
 * loaded into IDC and backed up; the cut-over to AWS run as the forward stack would run it; users
 * writing on AWS; a decision from measurements; then the rollback runbook while users keep
 * calling the app; then the checks of plan §6 and the report. Every number in the result is
 * measured — `lost` is the acknowledged user writes IDC does not hold at the end.
 */
export interface DrillOptions {
  readonly rows: number;
  readonly scenario: ScenarioName;
  /** Where the timelines and the report go (kept after the drill). */
  readonly out: string;
  readonly view: View;
  /** How long users work on AWS before the decision. */
  readonly usersSeconds?: number;
  /** Progress notifications every N seconds (the plan's 30 minutes, scaled to a drill). */
  readonly progressEveryS?: number;
  /** A Slack-compatible webhook (a secret: from the environment only). */
  readonly webhookUrl?: string;
  /** Runs of each probe query per side. */
  readonly probeRuns?: number;
  /** No progress lines on stderr (--json). */
  readonly quiet?: boolean;
}

export interface DrillResult {
  readonly ok: boolean;
  readonly scenario: { name: ScenarioName; rehearses: string; fault: string; detection: string[]; outcome: string[]; unmet: string[] };
  readonly durationMs: number;
  /** Wall time of each stage of the drill (setup includes loading and the two backups). */
  readonly stagesMs: { setup: number; cutover: number; afterCutover: number; decision: number; rollback: number; verification: number };
  readonly phases: { id: string; startedAt: string | null; durationMs: number; budgetMs: number; status: string }[];
  readonly steps: { step: string; phase: string; status: string; durationMs: number; exitCode: number | null; note?: string }[];
  readonly cutover: { completed: boolean; failedStep: string | null; durationMs: number };
  readonly rows: { loaded: number; synced: number; lost: number; resurrected: number; checked: number; writtenOnAws: number; uncertain: number };
  readonly verification: { identical: boolean; mismatchPct: number | null };
  readonly clients: ClientStats & { beforeCutover: ClientWindow; afterRollback: ClientWindow };
  readonly decision: { rollback: boolean; reasons: string[] };
  readonly notifications: { sent: number; failed: number; webhook: boolean };
  readonly files: { timeline: string; cutoverTimeline: string; timelineJson: string; reportMd: string };
}

/** What users saw in a window: requests, errors, response times of what the app answered. */
export interface ClientWindow {
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a repo script outside the runbook (backups, measurements); its --json report, or an error naming it. */
async function script(view: View, name: string, args: string[], env: Record<string, string>, okCodes = [0]): Promise<{ code: number; report: unknown }> {
  const { code, stdout } = await runChild(scriptArgv(name, args), { env: { ...process.env, ...env }, onStderr: (t) => view.child(t) });
  if (code === null || !okCodes.includes(code)) throw new RollbackError("DRILL_STEP", `${name} ${args[0] ?? ""}`, `exited with ${code}`, "see its output above");
  return { code, report: parseReport(stdout) };
}

/** Lines of a log written since `offset` that report errors. */
async function logErrors(path: string, offset: number, pattern: RegExp): Promise<{ errors: number; samples: string[] }> {
  const text = (await readFile(path).catch(() => Buffer.alloc(0))).subarray(offset).toString();
  const lines = text.split("\n").filter((l) => pattern.test(l));
  return { errors: lines.length, samples: lines.slice(0, 3).map((l) => l.slice(0, 200)) };
}

const sizeOf = async (path: string) => (await stat(path).catch(() => ({ size: 0 }))).size;

function statusLine(load: LoadGenerator): string {
  const s = load.stats();
  const by = Object.entries(s.byDatabase)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return `users: ${s.requests} requests (${by || "none answered"}), ${s.errors} errors, ${s.maintenance503} maintenance 503s`;
}

export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  const scenario = scenarioByName(o.scenario);
  const view = o.view;
  const t0 = Date.now();
  const out = resolvePath(o.out);
  const files = {
    timeline: join(out, "timeline.jsonl"),
    cutoverTimeline: join(out, "cutover-timeline.jsonl"),
    timelineJson: join(out, "timeline.json"),
    reportMd: join(out, "report.md"),
  };
  await mkdir(out, { recursive: true });
  for (const f of Object.values(files)) await rm(f, { force: true });

  view.stage(`setup — scenario ${scenario.name}: ${scenario.rehearses}`);
  const creds = newCredentials();
  const env = await startEnvironment(creds, (l) => view.child(l));
  const load = new LoadGenerator({ baseUrl: env.nginxUrl, rows: o.rows, sideOf: env.sideOf });
  const ticker = setInterval(() => view.status(statusLine(load)), 2_000);
  ticker.unref();
  try {
    const config = drillConfig(env, creds, { progressEveryS: o.progressEveryS ?? 10, webhookUrl: o.webhookUrl });
    await loadRows(env.idc, o.rows, o.quiet ?? false);
    view.info(`loaded ${o.rows.toLocaleString("en-US")} orders into IDC; users start calling the shop through nginx`);
    load.start();

    view.stage("backups of IDC (the nightly one, then one right before the cut-over)");
    for (const path of [...env.backupPaths].reverse()) {
      await script(view, "scripts/backup.ts", ["create", "--out", path, "--json"], { DATABASE_URL: env.url("idc", "direct") });
    }

    return await rehearse({ o, scenario, env, config, load, files, t0, setupMs: Date.now() - t0 });
  } finally {
    clearInterval(ticker);
    await load.stop().catch(() => undefined);
    await env.stop();
  }
}

interface Rehearsal {
  readonly o: DrillOptions;
  readonly scenario: Scenario;
  readonly env: DrillEnvironment;
  readonly config: ReturnType<typeof drillConfig>;
  readonly load: LoadGenerator;
  readonly files: DrillResult["files"];
  readonly t0: number;
  readonly setupMs: number;
}

/** The cut-over, the users on AWS, the decision, the rollback, the checks and the report. */
async function rehearse({ o, scenario, env, config, load, files, t0, setupMs }: Rehearsal): Promise<DrillResult> {
  const view = o.view;
  const detection: string[] = [];
  const outcome: string[] = [];

  view.stage("users on IDC before the cut-over: the response-time baseline");
  const baselineFrom = Date.now();
  await sleep(3_000);
  const baseline = load.stats(baselineFrom, Date.now());

  view.stage("cut-over to AWS: the forward run (the cutover stack, target aws)");
  const cutFaults = scenario.cutover?.(env) ?? {};
  const cutStart = Date.now();
  const cutover = await runRunbook({ target: "aws", env, config: { ...config, target: "aws" }, timeline: files.cutoverTimeline, view, ...cutFaults });
  const cutoverMs = Date.now() - cutStart;

  const measuredVerify = join(env.dir, "cutover-verify.json");
  const awsFrom = Date.now();
  if (cutover.completed) {
    view.stage(`users on AWS for ${o.usersSeconds ?? 5} s — fault: ${scenario.fault}`);
    await scenario.onAws?.(env);
    await sleep((o.usersSeconds ?? 5) * 1000);
    await writeFile(measuredVerify, JSON.stringify(lastEntry(cutover.entries, "verify")?.report ?? null));
  } else {
    const failed = lastEntry(cutover.entries, cutover.failedStep!)!;
    detection.push(`the cut-over stopped at its ${failed.step} step (exit ${failed.exitCode}): nothing after it ran, so no traffic moved to AWS`);
    // Measure what the load left on AWS: the same verify, IDC (source, complete) against AWS.
    const { report } = await script(view, "scripts/verify.ts", ["--json"], { SOURCE_DATABASE_URL: env.url("idc", "direct"), TARGET_DATABASE_URL: env.url("aws", "direct") }, [0, 1]);
    await writeFile(measuredVerify, JSON.stringify(report));
  }
  const awsTo = Date.now();
  const awsStats = load.stats(awsFrom, awsTo);

  // The decision (R2) from measurements: the data as verified at the cut-over, performance on
  // the app's path, what users saw on AWS, and the scenario's manual input.
  view.stage("decision (scripts/decide.ts)");
  const rollbackFrom = Date.now();
  const decideArgs = ["--verify", measuredVerify, "--timeline", files.timeline, "--json"];
  if (cutover.completed) {
    decideArgs.push("--error-rate-pct", String(awsStats.requests ? (awsStats.errors * 100) / awsStats.requests : 0));
    decideArgs.push("--outage-min", String(awsStats.longestOutageMs / 60_000));
  }
  if (scenario.manual?.securityIssue) decideArgs.push("--security-issue");
  const queries = join(env.dir, "probe-queries.json");
  await writeFile(queries, JSON.stringify(probeQueries(o.rows)));
  if (await answers(env.url("aws", "app"))) {
    decideArgs.push("--probe", queries, "--runs", String(o.probeRuns ?? 15));
  } else {
    detection.push("AWS does not answer on the app's network path: performance not measured");
  }
  const decided = await script(
    view,
    "scripts/decide.ts",
    decideArgs,
    {
      BASELINE_DATABASE_URL: env.url("idc", "app"),
      CANDIDATE_DATABASE_URL: env.url("aws", "app"),
      ROLLBACK_THRESHOLDS: JSON.stringify(config.thresholds),
    },
    [0, 1],
  );
  const decision = decided.report as Decision;
  detection.push(...decision.criteria.filter((c) => c.verdict === "rollback").map((c) => `decision: ${c.reason}`));
  if (cutover.completed && awsStats.errors) {
    detection.push(`users on AWS: ${awsStats.errors} of ${awsStats.requests} requests failed (${awsStats.errorSamples.map((e) => e.error).join("; ")})`);
  }

  const notifier = new Notifier(
    {
      webhookUrl: config.notifications.webhookUrl ? await resolve(config.notifications.webhookUrl) : undefined,
      contacts: config.contacts,
      progressEveryMs: config.notifications.progressEveryMin * 60_000,
      log: (l) => view.info(l),
      title: `Rollback drill (${scenario.name})`,
    },
    () => state,
  );
  const state: { phase?: string; step?: string; detail?: string } = {};

  const decidedAt = Date.now();
  const idcLog = join(env.idc.datadir, "error.log");
  const logOffsets = { idc: await sizeOf(idcLog), nginx: await sizeOf(env.nginx.errorLogPath) };
  let rollback: RunbookResult | undefined;
  if (decision.rollback) {
    notifier.start([`Rolling back to IDC: ${decision.reasons.join("; ")}`, `Plan: ${PHASES.map((p) => `${p.title} ${p.startsAtMin}-${p.endsAtMin} min`).join(", ")}`]);
    view.stage("rollback: the runbook (lib/runbook.ts), users still calling the app");
    const faults = scenario.rollback?.(env) ?? {};
    const onStep = (step: StepId) => {
      const phase = PHASES.find((p) => p.id === STEPS.find((s) => s.id === step)!.phase)!;
      if (state.phase !== phase.title) notifier.phase([`Phase: ${phase.title} (budget ${phase.endsAtMin - phase.startsAtMin} min)`]);
      Object.assign(state, { phase: phase.title, step, detail: statusLine(load) });
    };
    const aborted = !cutover.completed;
    rollback = await runRunbook({
      target: "idc",
      env,
      config,
      timeline: files.timeline,
      view,
      onStep,
      ...faults,
      // A cut-over stopped at its gate moved no traffic and AWS took no writes: IDC is still the
      // truth. The runbook's sync makes IDC equal AWS, so running it here would copy the
      // incomplete AWS data over IDC (and verify would then hold the traffic steps, which only
      // re-assert IDC). Every other step runs: the diff shows what AWS lacks.
      ...(aborted
        ? {
            skip: ["sync", "verify"] as StepId[],
            skipNote: `not run: the cut-over stopped at ${cutover.failedStep} before any traffic moved; IDC stayed live and AWS took no writes, so nothing is copied back (a sync would overwrite IDC with the incomplete AWS load)`,
          }
        : {}),
    });
    outcome.push(
      aborted
        ? rollback.completed
          ? "cut-over abandoned: the runbook re-asserted IDC on every layer and lifted maintenance; nothing was copied back from AWS"
          : `rollback runbook stopped at ${rollback.failedStep}`
        : rollback.completed
          ? "rollback runbook completed: traffic, app connection and data are back on IDC"
          : `rollback runbook stopped at ${rollback.failedStep}: traffic was not moved past it`,
    );
  } else {
    outcome.push("the decision does not call for a rollback: the drill stops here");
  }

  // Checks after the rollback (plan §6), recorded in the timeline next to the steps.
  view.stage("verification");
  const verificationFrom = Date.now();
  const offEntry = rollback && lastEntry(rollback.entries, "maintenance-off");
  const afterFrom = offEntry?.status === "ok" ? Date.parse(offEntry.startedAt) + offEntry.durationMs : Date.now();
  const record = (step: string, report: unknown, status: TimelineEntry["status"] = "ok", startedAt = Date.now()) =>
    appendEntry(files.timeline, { step, phase: "verification", startedAt: new Date(startedAt).toISOString(), durationMs: Date.now() - startedAt, budgetMs: null, status, exitCode: null, report });

  // Users keep working on the restored service for a few seconds: the "users can reach it" evidence.
  await sleep(Math.max(0, afterFrom + 3_000 - Date.now()));
  await load.stop();
  const all = load.stats(rollbackFrom, Date.now());
  const after = load.stats(afterFrom, Date.now());
  const window = (w: ClientStats) => ({ requests: w.requests, errors: w.errors, p50Ms: w.p50Ms, p95Ms: w.p95Ms });
  // Plan §6 "performance compared", as users see it: the same users, the same app, on IDC before
  // the cut-over and after the rollback.
  const clients = { ...all, beforeCutover: window(baseline), afterRollback: window(after) };
  await record(CHECK.clients, clients);

  if (rollback?.completed && cutover.completed) {
    // "Performance compared" (plan §6), judged where no machine load can skew it: the restored
    // IDC against the AWS it replaced, the same queries interleaved, both idle now that users
    // stopped, each on the operator's direct path.
    await script(
      view,
      "scripts/decide.ts",
      ["--probe", queries, "--runs", String(o.probeRuns ?? 15), "--baseline-label", "aws", "--candidate-label", "idc", "--phase", "verification", "--timeline", files.timeline, "--json"],
      { BASELINE_DATABASE_URL: env.url("aws", "direct"), CANDIDATE_DATABASE_URL: env.url("idc", "direct") },
      [0, 1],
    );
  }

  const c = await connect(env.idc.dsn(DATABASE));
  const ledger = await load.check(c).finally(() => c.end());
  await record(CHECK.lostRows, ledger, ledger.lost === 0 && ledger.resurrected === 0 ? "ok" : "failed");

  const fresh = join(env.backupDir, "after-rollback");
  const backupStart = Date.now();
  const created = await script(view, "scripts/backup.ts", ["create", "--out", fresh, "--json"], { DATABASE_URL: env.url("idc", "direct") });
  const checked = await script(view, "scripts/backup.ts", ["verify", fresh, "--json"], {}, [0, 1]);
  const createdRows = obj(created.report)?.rows;
  await record(
    CHECK.backupAfter,
    { ok: checked.code === 0, summary: `created ${fresh} (${String(createdRows)} rows) and verified it: ${checked.code === 0 ? "valid" : "INVALID"}` },
    checked.code === 0 ? "ok" : "failed",
    backupStart,
  );

  const scans = [
    { name: "IDC MariaDB error log", ...(await logErrors(idcLog, logOffsets.idc, /\[ERROR\]/)) },
    { name: "nginx error log", ...(await logErrors(env.nginx.errorLogPath, logOffsets.nginx, /\[(error|crit|alert|emerg)\]/)) },
    { name: "app logs", errors: [...env.apps.aws.log, ...env.apps.idc.log].filter((l) => /failed|error/i.test(l)).length, samples: [] },
  ];
  await record(CHECK.logs, { files: scans });
  const sent = notifier.deliveries.filter((d) => d.ok).length;
  const failedDeliveries = notifier.deliveries.filter((d) => !d.ok).length;
  await record(CHECK.notifications, { sent, failed: failedDeliveries, webhook: Boolean(config.notifications.webhookUrl) });

  // The report step, as the runbook's last: scripts/report.ts from the timeline, the changes
  // the Pulumi layers made (here: their stand-ins) and the contacts from config.
  view.stage("report");
  const reportRun = await runStep({
    step: "report",
    command: scriptArgv("scripts/report.ts", ["--timeline", files.timeline, "--out", join(files.timeline, ".."), "--title", `drill ${scenario.name} (${o.rows} rows)`, "--json"]),
    env: { ...process.env, ROLLBACK_CHANGES: JSON.stringify(rollback?.changes ?? {}), ROLLBACK_CONTACTS: JSON.stringify(config.contacts) },
    timeline: files.timeline,
    okCodes: [0, 1],
    onStderr: (t) => view.child(t),
  });
  const reportOk = obj(reportRun.entry.report)?.ok === true;

  const entries = await readTimeline(files.timeline);
  const runbookEntries = entries.filter((e) => STEPS.some((s) => s.id === e.step));
  const verify = verifySummary(lastEntry(entries, "verify")?.report ?? (await readFile(measuredVerify, "utf8").then(JSON.parse, () => null)));
  const sync = syncCounts(lastEntry(entries, "sync")?.report);
  const observed: Observed = {
    decisionCriteria: decision.criteria.filter((x) => x.verdict === "rollback").map((x) => x.id),
    cutoverFailedStep: cutover.failedStep,
    rollbackCompleted: rollback?.completed === true,
    stepReport: (step) => lastEntry(entries, step)?.report,
    cutoverReport: (step) => lastEntry(cutover.entries, step)?.report,
    errorSamples: all.errorSamples.map((e) => e.error).concat(awsStats.errorSamples.map((e) => e.error)),
    dockerCalls: env.docker.calls,
    awsRequests: load.stats().byDatabase.aws ?? 0,
  };
  const unmet = scenario.expect(observed);
  detection.push(...(scenario.detect?.(observed) ?? []));
  outcome.push(
    `IDC holds ${ledger.checked - ledger.lost} of ${ledger.checked} acknowledged user writes (${ledger.writtenOnAws} made on AWS); lost ${ledger.lost}`,
    `users during the rollback: ${all.requests} requests, ${all.errors} errors, ${all.maintenance503} maintenance 503s, ${Math.round(all.downtimeMs / 1000)} s without service`,
  );
  const gate = !cutover.completed;
  const ok =
    decision.rollback &&
    rollback?.completed === true &&
    ledger.lost === 0 &&
    ledger.resurrected === 0 &&
    (gate || verify?.identical === true) &&
    reportOk &&
    unmet.length === 0;
  await notifier.end(ok, outcome);

  return {
    ok,
    scenario: { name: scenario.name, rehearses: scenario.rehearses, fault: scenario.fault, detection, outcome, unmet },
    durationMs: Date.now() - t0,
    stagesMs: {
      setup: setupMs,
      cutover: cutoverMs,
      afterCutover: awsTo - awsFrom,
      decision: decidedAt - awsTo,
      rollback: verificationFrom - decidedAt,
      verification: Date.now() - verificationFrom,
    },
    phases: phaseTimings(entries).map((p) => ({ id: p.id, startedAt: p.startedAt, durationMs: p.durationMs, budgetMs: p.budgetMs, status: p.status })),
    steps: runbookEntries.map((e) => ({ step: e.step, phase: e.phase, status: e.status, durationMs: e.durationMs, exitCode: e.exitCode, ...(e.note ? { note: e.note } : {}) })),
    cutover: { completed: cutover.completed, failedStep: cutover.failedStep ?? null, durationMs: cutoverMs },
    rows: {
      loaded: o.rows,
      synced: sync ? sync.inserted + sync.updated + sync.deleted : 0,
      lost: ledger.lost,
      resurrected: ledger.resurrected,
      checked: ledger.checked,
      writtenOnAws: ledger.writtenOnAws,
      uncertain: ledger.uncertain,
    },
    verification: { identical: verify?.identical ?? false, mismatchPct: verify?.mismatchPct ?? null },
    clients,
    decision: { rollback: decision.rollback, reasons: decision.reasons },
    notifications: { sent, failed: failedDeliveries, webhook: Boolean(config.notifications.webhookUrl) },
    files,
  };
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
