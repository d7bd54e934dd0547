import { randomBytes } from "node:crypto";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { RollbackError } from "../errors";
import { StepId } from "../runbook";
import { summarizeReport } from "../report/evidence";
import { connect } from "../mysql";
import type { DrillEnvironment } from "./environment";
import type { DirectStats } from "./load";
import { IDC_CONTAINER } from "./environment";
import { DATABASE } from "./shop";

/**
 * The drill's scenarios: one per trigger of the plan (§2, R1) and per risk it names (§9, R10).
 * Each injects a real fault into the running environment — a failing load, rows gone missing, a
 * slow network, failing writes, a dead network, a corrupted backup file, a killed IDC server —
 * and says what must be observed: how the fault is detected, what the decision is, and the
 * outcome. Nothing is simulated in the counters: detection comes from the same scripts and
 * measurements a real rollback uses.
 */
export type ScenarioName =
  | "default"
  | "data-load-failure"
  | "validation-failure"
  | "performance"
  | "app-error"
  | "network-failure"
  | "corrupt-backup"
  | "idc-down"
  | "direct-writer"
  | "unlisted-writer";

type Hooks = Partial<Record<StepId, () => Promise<void>>>;

/** What a scenario's expectations read from the finished drill. */
export interface Observed {
  readonly decisionCriteria: string[];
  readonly cutoverFailedStep?: StepId;
  readonly rollbackCompleted: boolean;
  readonly rollbackFailedStep?: StepId;
  /** The direct writer (app account, straight to AWS, past nginx). */
  readonly direct: DirectStats;
  readonly stepReport: (step: StepId) => unknown;
  /** A step's report in the forward run (the cut-over). */
  readonly cutoverReport: (step: StepId) => unknown;
  readonly errorSamples: string[];
  readonly dockerCalls: string[];
  readonly awsRequests: number;
}

export interface Scenario {
  readonly name: ScenarioName;
  /** The plan's case it rehearses. */
  readonly rehearses: string;
  /** The fault, as the report states it. */
  readonly fault: string;
  /** Manual inputs to the decision (R2: security issue, unrecoverable error). */
  readonly manual?: { readonly securityIssue?: boolean };
  /** Faults inside the forward run (the cut-over): these scenarios stop it at its gate. */
  cutover?(env: DrillEnvironment): { before?: Hooks; after?: Hooks };
  /** Injected when users start working on AWS. */
  onAws?(env: DrillEnvironment): Promise<void>;
  /** Faults inside the rollback run. */
  rollback?(env: DrillEnvironment): { before?: Hooks; after?: Hooks };
  /** The step the rollback must stop at (its refusal is the expected outcome); undefined: it completes. */
  readonly stopsAt?: StepId;
  /** The direct writer's pause between inserts (default 40 ms). */
  readonly directPauseMs?: number;
  /** The detection and outcome this scenario must show; each unmet one is a line in the result. */
  expect(o: Observed): string[];
  /** What detected the fault, in the evidence's own words (beyond the decision's reasons). */
  detect?(o: Observed): string[];
}

const must = (cond: boolean, text: string) => (cond ? [] : [text]);
const decided = (o: Observed, id: string) => must(o.decisionCriteria.includes(id), `the decision should cite "${id}" (cited: ${o.decisionCriteria.join(", ") || "nothing"})`);
const completed = (o: Observed) => must(o.rollbackCompleted, "the rollback runbook should complete");

/** The largest data file of a backup: the one a flipped byte hurts most. */
async function largestFile(dir: string): Promise<string> {
  let best: { path: string; size: number } | undefined;
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const s = await stat(path);
    if (s.isFile() && !/manifest|sha256/i.test(name) && (!best || s.size > best.size)) best = { path, size: s.size };
  }
  if (!best) throw new RollbackError("DRILL_FAULT", dir, "has no data file to corrupt");
  return best.path;
}

/** Flips one byte in the middle of a file, as silent disk or transfer corruption would. */
export async function flipByte(path: string): Promise<void> {
  const f = await open(path, "r+");
  try {
    const { size } = await f.stat();
    const at = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await f.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await f.write(b, 0, 1, at);
  } finally {
    await f.close();
  }
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "default",
    rehearses: "R11: the whole rollback, end to end",
    fault: "none injected; the operator calls the rollback (R2 manual input: critical security issue)",
    manual: { securityIssue: true },
    expect: (o) => [...decided(o, "security"), ...completed(o)],
  },
  {
    name: "data-load-failure",
    rehearses: "R1 data-load failure (schema or data load errors)",
    fault: "AWS's orders table carries a CHECK constraint IDC's schema does not have (amount < 95): the cut-over's load fails on the rows it rejects",
    cutover: (env) => ({
      before: { sync: () => env.aws.exec(`ALTER TABLE ${DATABASE}.orders ADD CONSTRAINT drill_load_fault CHECK (amount < 95)`) },
    }),
    detect: (o) => [`the cut-over's sync: ${summarizeReport(o.cutoverReport("sync")) || "failed without a report"}`],
    expect: (o) => [
      ...must(o.cutoverFailedStep === "sync", `the cut-over should stop at its sync (stopped at: ${o.cutoverFailedStep ?? "nothing"})`),
      ...decided(o, "data-loss"),
      ...must(o.awsRequests === 0, `no user request should reach AWS (saw ${o.awsRequests})`),
    ],
  },
  {
    name: "validation-failure",
    rehearses: "R1 validation failure (IDC and AWS row counts differ)",
    fault: "after the cut-over's load, 2 % of AWS's orders vanish (a batch the load tool skipped)",
    cutover: (env) => ({
      // The skipped batch's order history is missing too (the load copies order_events as it was).
      after: { sync: () => env.aws.exec(`DELETE FROM ${DATABASE}.orders WHERE id % 50 = 7`, `DELETE FROM ${DATABASE}.order_events WHERE order_id % 50 = 7`) },
    }),
    detect: (o) => [`the cut-over's verify: ${summarizeReport(o.cutoverReport("verify"))}`],
    expect: (o) => [
      ...must(o.cutoverFailedStep === "verify", `the cut-over should stop at its verify (stopped at: ${o.cutoverFailedStep ?? "nothing"})`),
      ...decided(o, "data-loss"),
      ...decided(o, "mismatch"),
      ...must(o.awsRequests === 0, `no user request should reach AWS (saw ${o.awsRequests})`),
    ],
  },
  {
    name: "performance",
    rehearses: "R1 performance (response time 30 % or more worse)",
    fault: "every answer from AWS to the app is held 4 ms (a slower instance or a longer network path)",
    onAws: async (env) => env.net.aws.setMode({ kind: "delay", ms: 4 }),
    expect: (o) => [...decided(o, "performance"), ...completed(o)],
  },
  {
    name: "app-error",
    rehearses: "R1 application errors on the new side",
    fault: "on AWS, triggers reject order writes with amount > 40 (an environment difference that breaks the app)",
    onAws: (env) =>
      env.aws.exec(
        ...["INSERT", "UPDATE"].map(
          (op) =>
            `CREATE TRIGGER ${DATABASE}.drill_fault_${op.toLowerCase()} BEFORE ${op} ON ${DATABASE}.orders FOR EACH ROW
             IF NEW.amount > 40 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'drill fault: write rejected on AWS'; END IF`,
        ),
      ),
    // The faulty triggers are the environment difference that caused the rollback: the DBA
    // removes them from AWS first, or the copy back would have to carry them to IDC (verify
    // compares triggers, so a sync that left them out would not be called identical).
    rollback: (env) => ({
      before: { preflight: () => env.aws.exec(...["insert", "update"].map((op) => `DROP TRIGGER IF EXISTS ${DATABASE}.drill_fault_${op}`)) },
    }),
    expect: (o) => [
      ...decided(o, "error-rate"),
      ...must(o.errorSamples.some((e) => e.includes("ER_SIGNAL_EXCEPTION")), "users should have seen the rejected writes (ER_SIGNAL_EXCEPTION)"),
      ...completed(o),
    ],
  },
  {
    name: "network-failure",
    rehearses: "R1 network failure to RDS; R10 alternative path",
    fault: "the app's network path to AWS drops: connections reset, new ones refused; the runbook reaches AWS by its own (alternative) path",
    onAws: async (env) => {
      // Users work normally for a moment before the link drops.
      setTimeout(() => env.net.aws.setMode({ kind: "down" }), 1_500).unref();
    },
    expect: (o) => [...decided(o, "error-rate"), ...completed(o)],
  },
  {
    name: "corrupt-backup",
    rehearses: "R10 corrupted backup file (several backups)",
    fault: "one byte of the newest IDC backup's largest file is flipped after it was written",
    manual: { securityIssue: true },
    rollback: (env) => ({ before: { "backup-check": async () => flipByte(await largestFile(env.backupPaths[0])) } }),
    detect: (o) => {
      const r = o.stepReport("backup-check") as { candidates?: { path: string; valid: boolean; reasons: string[] }[] } | undefined;
      return [
        `backup-check: ${summarizeReport(r)}`,
        ...(r?.candidates ?? []).filter((c) => !c.valid).map((c) => `backup-check rejected ${c.path}: ${c.reasons.join("; ")}`),
      ];
    },
    expect: (o) => {
      const r = o.stepReport("backup-check") as { chosen?: string; candidates?: { path: string; valid: boolean }[] } | undefined;
      return [
        ...must(typeof r?.chosen === "string" && r.chosen.includes("nightly"), `backup-check should fall back to the older (nightly) backup (chose: ${r?.chosen ?? "nothing"})`),
        ...must(r?.candidates?.some((c) => c.path.includes("pre-cutover") && !c.valid) === true, "backup-check should reject the corrupted pre-cut-over backup"),
        ...completed(o),
      ];
    },
  },
  {
    name: "idc-down",
    rehearses: "R10 IDC itself broken (the IDC MySQL container is down)",
    fault: "the IDC MariaDB server is killed (SIGKILL) when the rollback starts; the docker shim maps `docker restart` to starting it again",
    manual: { securityIssue: true },
    rollback: (env) => ({ before: { "maintenance-on": () => env.docker.kill(IDC_CONTAINER) } }),
    detect: (o) => [`idc-health: ${summarizeReport(o.stepReport("idc-health"))}`, `docker (drill shim) was asked: ${o.dockerCalls.join(", ")}`],
    expect: (o) => {
      const r = o.stepReport("idc-health") as { ok?: boolean; action?: string } | undefined;
      return [
        ...must(o.dockerCalls.includes(`docker restart ${IDC_CONTAINER}`), "the idc-health step should restart the IDC container"),
        ...must(r?.ok === true, "IDC MySQL should answer after the restart"),
        ...completed(o),
      ];
    },
  },
  {
    name: "direct-writer",
    rehearses: "issue 11: a writer that bypasses nginx (a background job with the app's account and its own AWS URL)",
    fault: "a job inserts orders straight into AWS every 10 ms for the whole rollback: maintenance mode never stops it, only the fence does",
    manual: { securityIssue: true },
    directPauseMs: 10,
    detect: (o) => {
      const f = o.stepReport("fence") as FenceSeen | undefined;
      return [`fence: killed ${f?.killed?.filter((k) => k.killed).length ?? 0} session(s) of the app's account; position ${f?.position?.text ?? "none"}`, `direct writer: ${o.direct.acknowledged} acknowledged, ${o.direct.refused} logins refused after the fence`];
    },
    expect: (o) => {
      const f = o.stepReport("fence") as FenceSeen | undefined;
      return [
        ...must(o.direct.acknowledged > 0, "the direct writer should have written on AWS"),
        ...must(f?.killed?.some((k) => k.killed) === true, "the fence should have killed the direct writer's session"),
        ...must(o.direct.refused > 0, "the direct writer's logins after the fence should be refused (account locked)"),
        ...completed(o),
      ];
    },
  },
  {
    name: "unlisted-writer",
    rehearses: "issue 11: a write after the proof, by an account the fence does not know",
    fault: "after verify and proof-check, once traffic is back on IDC, an account outside runbook.fence.users (report_job) inserts an order on AWS",
    manual: { securityIssue: true },
    stopsAt: "settle",
    rollback: (env) => ({
      after: {
        health: async () => {
          const password = randomBytes(12).toString("base64url");
          await env.aws.exec(`CREATE USER 'report_job'@'%' IDENTIFIED BY '${password}'`, `GRANT INSERT ON ${DATABASE}.* TO 'report_job'@'%'`);
          const c = await connect({ ...env.aws.dsn(DATABASE), user: "report_job", password });
          try {
            await c.query("INSERT INTO orders (customer_id, amount, status, note, created_at, updated_at) VALUES (1, 1.00, 'new', 'written after the proof', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))");
          } finally {
            await c.end();
          }
        },
      },
    }),
    detect: (o) => [`settle: ${((o.stepReport("settle") as SettleSeen | undefined)?.moved ?? []).join("; ") || "nothing moved"}`],
    expect: (o) => {
      const settle = o.stepReport("settle") as SettleSeen | undefined;
      return [
        ...must(o.rollbackFailedStep === "settle", `the rollback should stop at settle (stopped at: ${o.rollbackFailedStep ?? "nothing"})`),
        ...must(settle?.moved?.some((m) => m.startsWith("position: ")) === true, "settle should name the moved position"),
        ...must(o.stepReport("rds-power") === undefined, "RDS must not be stopped"),
      ];
    },
  },
];

/** The fence's report in the rollback: which sessions of the app's account it killed. */
type FenceSeen = { ok?: boolean; killed?: { user: string; killed: boolean }[]; position?: { text: string } | null };
type SettleSeen = { ok?: boolean; moved?: string[] };

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new RollbackError("ARGS_INVALID", "--scenario", `"${name}" is not a scenario`, `one of: ${SCENARIOS.map((x) => x.name).join(", ")}`);
  return s;
}
