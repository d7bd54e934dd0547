/**
 * The rollback runbook, defined once. The Pulumi Runbook component (components/runbook) and
 * the drill (lib/drill/runbook.ts) both read this list, and both build each step from one table
 * (components/runbook/plan.ts STEP_PLANS, a Record over StepId: a step added here without a plan
 * does not compile), so their order, phases, budgets and commands cannot drift apart. Step ids
 * are the names used in config, logs, reports and outputs.
 */

export type PhaseId = "cutoff" | "data-sync" | "normalisation";

export interface Phase {
  readonly id: PhaseId;
  /** The plan's wording (§3.1–§3.3). */
  readonly title: string;
  /** Minutes from the start of the rollback when the phase should start and end. */
  readonly startsAtMin: number;
  readonly endsAtMin: number;
}

export const PHASES: readonly Phase[] = [
  { id: "cutoff", title: "Emergency cut-off", startsAtMin: 0, endsAtMin: 15 },
  { id: "data-sync", title: "Data sync", startsAtMin: 15, endsAtMin: 30 },
  { id: "normalisation", title: "Service normalisation", startsAtMin: 30, endsAtMin: 60 },
];

export type StepId =
  | "preflight"
  | "maintenance-on"
  | "fence"
  | "drain"
  | "idc-health"
  | "backup-check"
  | "diff"
  | "sync"
  | "verify"
  | "proof-check"
  | "unfence"
  | "connection-secret"
  | "nginx-upstream"
  | "health"
  | "dns-weights"
  | "maintenance-off"
  | "settle"
  | "rds-power"
  | "report";

export interface Step {
  readonly id: StepId;
  readonly phase: PhaseId;
  readonly title: string;
  /** The script a command resource (or the drill) runs; undefined for steps done by a Pulumi resource. */
  readonly script?: string;
  /** True when the step sends users or the app somewhere else: it must come after `verify`. */
  readonly movesTraffic: boolean;
}

/**
 * Order matters: the plan (§3.1) flips the app and nginx in the first 15 minutes, but doing so
 * before `verify` would point users at an IDC that lacks AWS's latest writes. Maintenance mode
 * holds users off instead, and every traffic move waits for a verified IDC.
 */
export const STEPS: readonly Step[] = [
  // Changes nothing: a wrong assumption (a URL at the wrong server, a file nginx never loads, a
  // Route53 name Route53 refuses) stops the run before maintenance starts (scripts/preflight.ts).
  { id: "preflight", phase: "cutoff", title: "Preflight: every assumption of the later steps, checked without changing anything", script: "scripts/preflight.ts", movesTraffic: false },
  { id: "maintenance-on", phase: "cutoff", title: "Maintenance mode on (stop new connections)", script: "scripts/maintenance.ts", movesTraffic: false },
  // Maintenance mode stops only what passes nginx's HTTP server; the fence stops the app's
  // accounts in the database itself, whatever path they come by (issue 11).
  { id: "fence", phase: "cutoff", title: "Fence the app's accounts on AWS (guardrails, lock, wait, kill; commit position)", script: "scripts/fence.ts", movesTraffic: false },
  // Still needed after the fence: it waits for the transactions of every other account, which the
  // fence does not know, so the sync starts after anyone's last commit.
  { id: "drain", phase: "cutoff", title: "Wait for in-flight transactions on AWS", script: "scripts/drain.ts", movesTraffic: false },
  { id: "idc-health", phase: "cutoff", title: "Check (and restart) the IDC MySQL container", script: "scripts/idc-mysql.ts", movesTraffic: false },
  { id: "backup-check", phase: "data-sync", title: "Check the latest backup (timestamp, checksum, completeness)", script: "scripts/backup.ts", movesTraffic: false },
  { id: "diff", phase: "data-sync", title: "Compare IDC and AWS per table", script: "scripts/verify.ts", movesTraffic: false },
  { id: "sync", phase: "data-sync", title: "Copy what AWS wrote after cut-over back to IDC", script: "scripts/sync.ts", movesTraffic: false },
  { id: "verify", phase: "data-sync", title: "Verify IDC equals AWS", script: "scripts/verify.ts", movesTraffic: false },
  // Verify proved the sides identical at one commit position of AWS; nothing may have moved it
  // since. Here, before any traffic moves, a move can still be synced again (resyncOnMove).
  { id: "proof-check", phase: "data-sync", title: "Prove AWS did not move since verify (fence check; resyncOnMove: sync and verify again)", script: "scripts/fence.ts", movesTraffic: false },
  // The other stack's run fenced the side traffic now returns to; lifted only after verify.
  { id: "unfence", phase: "normalisation", title: "Lift the fence on IDC (left by the cut-over)", script: "scripts/fence.ts", movesTraffic: true },
  // With a recycle command, scripts/app-sessions.ts then proves the app's sessions moved (issue 14).
  { id: "connection-secret", phase: "normalisation", title: "Point the app's connection secret at IDC (recycle, prove its sessions moved)", script: "scripts/app-sessions.ts", movesTraffic: true },
  { id: "nginx-upstream", phase: "normalisation", title: "Point the Nginx upstream at IDC", script: "scripts/switch-upstream.ts", movesTraffic: true },
  { id: "health", phase: "normalisation", title: "Health checks (MySQL, app, read/write)", script: "scripts/health.ts", movesTraffic: false },
  { id: "dns-weights", phase: "normalisation", title: "Move Route53 weights to IDC", movesTraffic: true },
  { id: "maintenance-off", phase: "normalisation", title: "Maintenance mode off", script: "scripts/maintenance.ts", movesTraffic: true },
  // The straggler check: AWS's commit position is still the one verify proved identical. Never a
  // re-sync here: IDC has taken users' writes since the switch, and a sync would overwrite them.
  { id: "settle", phase: "normalisation", title: "Prove nothing was written on AWS after verify, before RDS stops (fence check)", script: "scripts/fence.ts", movesTraffic: false },
  { id: "rds-power", phase: "normalisation", title: "Stop RDS with a final snapshot (the cutover starts it, first)", movesTraffic: false },
  { id: "report", phase: "normalisation", title: "Write the rollback report", script: "scripts/report.ts", movesTraffic: false },
];

export const STEP_IDS: readonly StepId[] = STEPS.map((s) => s.id);

export function phaseOf(step: StepId): Phase {
  const s = STEPS.find((x) => x.id === step);
  const p = PHASES.find((x) => x.id === s?.phase);
  if (!p) throw new Error(`unknown step ${step}`);
  return p;
}

/** A phase's time budget in milliseconds. */
export function budgetMs(phase: PhaseId): number {
  const p = PHASES.find((x) => x.id === phase)!;
  return (p.endsAtMin - p.startsAtMin) * 60_000;
}
