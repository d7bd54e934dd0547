import { mkdir, rm } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import type { SavedTrigger } from "../data/triggers";
import { Notifier } from "../notify";
import { obj, syncCounts, verifySummary } from "../report/evidence";
import { PHASES, StepId, STEPS } from "../runbook";
import { lastEntry, phaseTimings, readTimeline } from "../timeline";
import { checkAfterRollback, Clients, markLogs, readShopTriggers, TriggerCheck } from "./checks";
import { configToward, drillConfig, resolveOutput } from "./config";
import { DrillCredentials, newCredentials } from "./credentials";
import { DrillEnvironment, runScript, startEnvironment } from "./environment";
import { DirectStats, LoadGenerator } from "./load";
import { measureAndDecide } from "./measure";
import { RunbookResult, runRunbook } from "./runbook";
import { Observed, Scenario, ScenarioName, scenarioByName } from "./scenarios";
import { DATABASE, loadRows } from "./shop";
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
  /** Runs of each probe query per side and round (3 rounds). */
  readonly probeRuns?: number;
  /** No progress lines on stderr (--json). */
  readonly quiet?: boolean;
  /** Receives the environment's stop function as soon as it runs (the CLI calls it on Ctrl-C). */
  readonly onStarted?: (stop: () => Promise<void>) => void;
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
  readonly rows: { loaded: number; synced: number; lost: number; resurrected: number; checked: number; writtenOnAws: number; uncertain: number; direct: DirectStats };
  readonly verification: { identical: boolean; mismatchPct: number | null };
  /** The shop's triggers after the rollback (checks.ts), and what the sync did with IDC's (null: it had none to save). */
  readonly triggers: TriggerCheck & { sync: { saved: string[]; recreated: string[]; verified: boolean } | null };
  readonly clients: Clients;
  readonly decision: { rollback: boolean; reasons: string[] };
  readonly notifications: { sent: number; failed: number; webhook: boolean };
  /** The plan's §6 checklist as the report judged it (evidence in report.md). */
  readonly checklist: { id: string; title: string; pass: boolean; evidence: string[] }[];
  readonly files: { timeline: string; cutoverTimeline: string; timelineJson: string; reportMd: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  o.onStarted?.(() => env.stop());
  const load = new LoadGenerator({ baseUrl: env.nginxUrl, rows: o.rows, sideOf: env.sideOf });
  const ticker = setInterval(() => view.status(statusLine(load)), 2_000);
  ticker.unref();
  try {
    const config = drillConfig(env, creds, { progressEveryS: o.progressEveryS ?? 10, webhookUrl: o.webhookUrl });
    await loadRows(env.idc, o.rows, o.quiet ?? false);
    view.info(`loaded ${o.rows.toLocaleString("en-US")} orders into IDC; users start calling the shop through nginx`);
    const triggersBefore = await readShopTriggers(env.idc.dsn(DATABASE));
    load.start();

    view.stage("backups of IDC (the nightly one, then one right before the cut-over)");
    for (const path of [...env.backupPaths].reverse()) {
      await runScript(view, "scripts/backup.ts", ["create", "--out", path, "--json"], { DATABASE_URL: env.url("idc", "direct") });
    }

    return await rehearse({ o, scenario, env, creds, config, load, files, t0, setupMs: Date.now() - t0, triggersBefore });
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
  readonly creds: DrillCredentials;
  readonly config: ReturnType<typeof drillConfig>;
  readonly load: LoadGenerator;
  readonly files: DrillResult["files"];
  readonly t0: number;
  readonly setupMs: number;
  readonly triggersBefore: readonly SavedTrigger[];
}

/** The cut-over, the users on AWS, the decision, the rollback, the checks and the report. */
async function rehearse({ o, scenario, env, creds, config, load, files, t0, setupMs, triggersBefore }: Rehearsal): Promise<DrillResult> {
  const view = o.view;
  const outcome: string[] = [];
  const probeRuns = o.probeRuns ?? 20;

  view.stage("users on IDC before the cut-over: the response-time baseline");
  const baselineFrom = Date.now();
  await sleep(3_000);
  const baseline = load.stats(baselineFrom, Date.now());

  view.stage("cut-over to AWS: the forward run (the cutover stack, target aws)");
  const cutStart = Date.now();
  const cutover = await runRunbook({ target: "aws", env, config: configToward(config, "aws", env), timeline: files.cutoverTimeline, view, ...scenario.cutover?.(env) });
  const awsFrom = Date.now();
  if (cutover.completed) {
    // A background job with the app's account and its own URL of AWS: nginx's maintenance page
    // never stops it; it writes for the whole rollback, and its acknowledged rows count as users'.
    load.startDirect({ ...env.aws.dsn(DATABASE), user: creds.app.user, password: creds.app.password }, "aws", scenario.directPauseMs);
    view.stage(`users on AWS for ${o.usersSeconds ?? 5} s — fault: ${scenario.fault}`);
    await scenario.onAws?.(env);
    await sleep((o.usersSeconds ?? 5) * 1000);
  }
  const awsTo = Date.now();

  view.stage("decision (scripts/decide.ts)");
  const measured = await measureAndDecide({ env, config, scenario, cutover, onAws: load.stats(awsFrom, awsTo), rows: o.rows, probeRuns, timeline: files.timeline, view });
  const { decision, detection } = measured;
  const decidedAt = Date.now();

  const state: { phase?: string; step?: string; detail?: string } = {};
  const notifier = new Notifier(
    {
      webhookUrl: config.notifications.webhookUrl ? await resolveOutput(config.notifications.webhookUrl) : undefined,
      contacts: config.contacts,
      progressEveryMs: config.notifications.progressEveryMin * 60_000,
      log: (l) => view.info(l),
      title: `Rollback drill (${scenario.name})`,
    },
    () => state,
  );
  const logMarks = await markLogs(env);
  let rollback: RunbookResult | undefined;
  if (decision.rollback) {
    notifier.start([`Rolling back to IDC: ${decision.reasons.join("; ")}`, `Plan: ${PHASES.map((p) => `${p.title} ${p.startsAtMin}-${p.endsAtMin} min`).join(", ")}`]);
    view.stage("rollback: the runbook (lib/runbook.ts), users still calling the app");
    const onStep = (step: StepId) => {
      const phase = PHASES.find((p) => p.id === STEPS.find((s) => s.id === step)!.phase)!;
      if (state.phase !== phase.title) notifier.phase([`Phase: ${phase.title} (budget ${phase.endsAtMin - phase.startsAtMin} min)`]);
      Object.assign(state, { phase: phase.title, step, detail: statusLine(load) });
    };
    // A cut-over stopped at its gate moved no traffic and AWS took no writes: IDC is still the
    // truth, and AWS may hold an incomplete load that the runbook's sync would copy over IDC.
    // The operator's call for that case is `runbook.copyBack: false`: the stack then declares no
    // sync and no verify, and the traffic steps (which only re-assert IDC) wait for the diff.
    const aborted = !cutover.completed;
    rollback = await runRunbook({
      target: "idc",
      env,
      // After a completed cut-over its timeline is the proof the shrink guard reads (runbook.cutoverProof).
      config: { ...config, runbook: aborted ? { ...config.runbook, copyBack: false } : { ...config.runbook, cutoverProof: files.cutoverTimeline } },
      timeline: files.timeline,
      view,
      onStep,
      ...scenario.rollback?.(env),
    });
    outcome.push(
      !rollback.completed
        ? `rollback runbook stopped at ${rollback.failedStep}: nothing after it ran`
        : aborted
          ? "cut-over abandoned: the rollback stack ran with runbook.copyBack false (no sync, no verify: nothing copied back from the incomplete AWS load), re-asserted IDC on every layer and lifted maintenance"
          : "rollback runbook completed: traffic, app connection and data are back on IDC",
    );
  } else {
    outcome.push("the decision does not call for a rollback: the drill stops here");
  }

  view.stage("verification");
  const verificationFrom = Date.now();
  const off = rollback && lastEntry(rollback.entries, "maintenance-off");
  const checked = await checkAfterRollback({
    env,
    load,
    timeline: files.timeline,
    view,
    notifier,
    webhook: Boolean(config.notifications.webhookUrl),
    baseline,
    rollbackFrom: awsTo,
    afterFrom: off?.status === "ok" ? Date.parse(off.startedAt) + off.durationMs : Date.now(),
    logMarks,
    triggersBefore,
    probe: rollback?.completed && cutover.completed ? { queries: measured.queries, runs: probeRuns } : undefined,
  });
  const { clients, ledger } = checked;

  // The report, as the Runbook's last command (components/command-line.ts reportCommandLine):
  // scripts/report.ts, unwrapped, from the timeline, the changes the Pulumi layers made (here:
  // their stand-ins) and the contacts from config.
  view.stage("report");
  const reportRun = await runScript(
    view,
    "scripts/report.ts",
    ["--timeline", files.timeline, "--out", join(files.timeline, ".."), "--title", `drill ${scenario.name} (${o.rows} rows)`, "--json"],
    // The drill's own notifier sends the end message: no second one from the report script.
    { ROLLBACK_WEBHOOK_URL: "", ROLLBACK_CHANGES: JSON.stringify(rollback?.changes ?? {}), ROLLBACK_CONTACTS: JSON.stringify(config.contacts) },
    [0, 1],
  );
  const reportOk = obj(reportRun.report)?.ok === true;
  const checklist = (obj(reportRun.report)?.checklist ?? []) as DrillResult["checklist"];

  const entries = await readTimeline(files.timeline);
  // With copy-back off (gate scenarios) there is no verify: the diff says how the sides differ.
  const verify = verifySummary(lastEntry(entries, "verify")?.report ?? lastEntry(entries, "diff")?.report);
  const sync = syncCounts(lastEntry(entries, "sync")?.report);
  const syncTriggers = obj(obj(lastEntry(entries, "sync")?.report)?.triggers);
  const observed: Observed = {
    decisionCriteria: decision.criteria.filter((x) => x.verdict === "rollback").map((x) => x.id),
    cutoverFailedStep: cutover.failedStep,
    rollbackCompleted: rollback?.completed === true,
    rollbackFailedStep: rollback?.failedStep,
    direct: load.directStats(),
    stepReport: (step) => lastEntry(entries, step)?.report,
    cutoverReport: (step) => lastEntry(cutover.entries, step)?.report,
    errorSamples: clients.errorSamples.map((e) => e.error).concat(load.stats(awsFrom, awsTo).errorSamples.map((e) => e.error)),
    dockerCalls: env.docker.calls,
    awsRequests: load.stats().byDatabase.aws ?? 0,
  };
  const unmet = scenario.expect(observed);
  detection.push(...(scenario.detect?.(observed) ?? []));
  outcome.push(
    `IDC holds ${ledger.checked - ledger.lost} of ${ledger.checked} acknowledged user writes (${ledger.writtenOnAws} made on AWS); lost ${ledger.lost}`,
    `users during the rollback: ${clients.requests} requests, ${clients.errors} errors, ${clients.maintenance503} maintenance 503s, ${Math.round(clients.downtimeMs / 1000)} s without service`,
  );
  const direct = load.directStats();
  if (cutover.completed) {
    outcome.push(`direct writer (app account, straight to AWS): ${direct.acknowledged} inserts acknowledged, ${direct.interrupted} cut off without an answer, ${direct.refused} logins refused${direct.lastRefusal ? ` (${direct.lastRefusal})` : ""}`);
  }
  const ok =
    decision.rollback &&
    (scenario.stopsAt ? rollback?.failedStep === scenario.stopsAt : rollback?.completed === true) &&
    ledger.lost === 0 &&
    ledger.resurrected === 0 &&
    (!cutover.completed || verify?.identical === true) &&
    // The sync dropped IDC's triggers for the copy: a completed rollback has them back, as on AWS.
    (!cutover.completed || !rollback?.completed || (checked.triggers.asBefore && checked.triggers.asOnAws)) &&
    // A run the scenario expects to stop has a report that says so (its checklist fails by design).
    (scenario.stopsAt !== undefined || reportOk) &&
    unmet.length === 0;
  await notifier.end(ok, outcome);

  return {
    ok,
    scenario: { name: scenario.name, rehearses: scenario.rehearses, fault: scenario.fault, detection, outcome, unmet },
    durationMs: Date.now() - t0,
    stagesMs: {
      setup: setupMs,
      cutover: awsFrom - cutStart,
      afterCutover: awsTo - awsFrom,
      decision: decidedAt - awsTo,
      rollback: verificationFrom - decidedAt,
      verification: Date.now() - verificationFrom,
    },
    phases: phaseTimings(entries).map((p) => ({ id: p.id, startedAt: p.startedAt, durationMs: p.durationMs, budgetMs: p.budgetMs, status: p.status })),
    steps: entries
      .filter((e) => STEPS.some((s) => s.id === e.step))
      .map((e) => ({ step: e.step, phase: e.phase, status: e.status, durationMs: e.durationMs, exitCode: e.exitCode, ...(e.note ? { note: e.note } : {}) })),
    cutover: { completed: cutover.completed, failedStep: cutover.failedStep ?? null, durationMs: awsFrom - cutStart },
    rows: {
      loaded: o.rows,
      synced: sync ? sync.inserted + sync.updated + sync.deleted : 0,
      lost: ledger.lost,
      resurrected: ledger.resurrected,
      checked: ledger.checked,
      writtenOnAws: ledger.writtenOnAws,
      uncertain: ledger.uncertain,
      direct,
    },
    verification: { identical: verify?.identical ?? false, mismatchPct: verify?.mismatchPct ?? null },
    triggers: {
      ...checked.triggers,
      sync: syncTriggers
        ? { saved: (syncTriggers.saved ?? []) as string[], recreated: (syncTriggers.recreated ?? []) as string[], verified: syncTriggers.verified === true }
        : null,
    },
    clients,
    decision: { rollback: decision.rollback, reasons: decision.reasons },
    notifications: checked.notifications,
    checklist: checklist.map((c) => ({ id: c.id, title: c.title, pass: c.pass, evidence: c.evidence })),
    files,
  };
}
