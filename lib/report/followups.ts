import { ContactRole, Contacts } from "../contacts";
import type { Decision } from "../decision";
import { formatDuration } from "../progress";
import { STEPS } from "../runbook";
import { PhaseTiming, TimelineEntry, didNotFinish, lastEntry } from "../timeline";
import { ChecklistItem, CHECK } from "./checklist";
import { count, num, obj, summarizeReport, syncCounts } from "./evidence";

/**
 * The plan's §7 follow-up actions (R8): immediate, within 24 hours, within a week, each with an
 * owner from the contacts and the facts this run measured, so the skeleton is already filled.
 */
export type When = "immediate" | "24h" | "week";

export interface FollowUp {
  readonly when: When;
  readonly action: string;
  readonly owner: string;
  readonly facts: string[];
}

/** What the Pulumi-managed layers changed (env ROLLBACK_CHANGES; the drill records its stand-ins). */
export interface Changes {
  readonly dnsWeights?: { idc: number; aws: number };
  readonly nginxUpstream?: string;
  readonly connectionSecretArn?: string;
  readonly rdsDesiredState?: string;
}

const ROLE_TITLE: Record<ContactRole, string> = {
  systemAdmin: "system admin",
  dba: "DBA",
  appTeam: "app team",
  infraTeam: "infra team",
  emergency: "emergency line",
};

export function owner(role: ContactRole, contacts: Contacts | undefined): string {
  const c = contacts?.[role];
  return c ? `${c.name} (${ROLE_TITLE[role]}, ${c.reach})` : `${ROLE_TITLE[role]} (unassigned: set rollback:contacts)`;
}

/** From maintenance-on's start to maintenance-off's end: how long users saw the maintenance page. */
export function maintenanceWindowMs(entries: readonly TimelineEntry[]): number | undefined {
  const on = lastEntry(entries, "maintenance-on");
  const off = lastEntry(entries, "maintenance-off");
  if (!on || !off || off.status !== "ok") return undefined;
  return Date.parse(off.startedAt) + off.durationMs - Date.parse(on.startedAt);
}

export interface FollowUpInput {
  readonly entries: readonly TimelineEntry[];
  readonly phases: readonly PhaseTiming[];
  readonly checklist: readonly ChecklistItem[];
  readonly decision?: Decision;
  readonly changes: Changes;
  readonly contacts?: Contacts;
}

export function followUps(i: FollowUpInput): FollowUp[] {
  const o = (r: ContactRole) => owner(r, i.contacts);
  const reasons = i.decision?.reasons.length ? i.decision.reasons : ["no decision recorded in the timeline (scripts/decide.ts --timeline)"];
  const failedChecks = i.checklist.filter((c) => !c.pass).map((c) => `checklist item failed: ${c.title}`);
  const clients = obj(lastEntry(i.entries, CHECK.clients)?.report);
  const window = maintenanceWindowMs(i.entries);
  const userFacts = [
    window !== undefined ? `maintenance page shown for ${formatDuration(window)}` : "maintenance window not recorded",
    ...(clients
      ? [`clients: ${count(num(clients.requests))} requests, ${count(num(clients.errors))} errors, ${count(num(clients.maintenance503))} maintenance 503s, ${formatDuration(num(clients.downtimeMs) ?? 0)} without service`]
      : []),
  ];
  const sync = syncCounts(lastEntry(i.entries, "sync")?.report);
  const rdsStep = lastEntry(i.entries, "rds-power");
  const rds = i.changes.rdsDesiredState
    ? `RDS desired state: ${i.changes.rdsDesiredState}`
    : rdsStep
      ? `rds-power: ${rdsStep.status}${rdsStep.note ? ` (${rdsStep.note})` : ""}`
      : "rds-power not recorded";
  const over = i.phases.filter((p) => p.status !== "ok").map((p) => `${p.title}: ${p.status}, ${formatDuration(p.durationMs)} of ${formatDuration(p.budgetMs)}`);
  const slowest = [...i.entries]
    .filter((e) => STEPS.some((s) => s.id === e.step))
    .sort((a, b) => b.durationMs - a.durationMs)
    .slice(0, 3)
    .map((e) => `${e.step} took ${formatDuration(e.durationMs)}`);
  const failedSteps = STEPS.filter((s) => didNotFinish(lastEntry(i.entries, s.id))).map((s) => `step ${lastEntry(i.entries, s.id)!.status}: ${s.id}`);
  const perf = obj(lastEntry(i.entries, CHECK.perf)?.report);

  return [
    { when: "immediate", action: "Initial analysis of why the rollback was needed", owner: o("appTeam"), facts: reasons },
    {
      when: "immediate",
      action: "Strengthen monitoring of the IDC service",
      owner: o("infraTeam"),
      facts: [
        ...(perf ? [`latest probe: ${summarizeReport(perf)}`] : []),
        ...failedChecks,
        ...(failedChecks.length ? [] : ["every checklist item passed"]),
      ],
    },
    { when: "immediate", action: "Notify users (maintenance and service restored)", owner: o("systemAdmin"), facts: userFacts },
    {
      when: "24h",
      action: "Detailed cause analysis report",
      owner: o("dba"),
      facts: [...(i.decision?.criteria.filter((c) => c.value !== null).map((c) => c.reason) ?? []), ...failedSteps],
    },
    {
      when: "24h",
      action: "Pause or clean up AWS resources (RDS stopped with a final snapshot; it restarts by itself after 7 days)",
      owner: o("infraTeam"),
      facts: [rds, ...(i.changes.dnsWeights ? [`Route53 weights: idc ${i.changes.dnsWeights.idc}, aws ${i.changes.dnsWeights.aws}`] : [])],
    },
    {
      when: "24h",
      action: "Re-migration strategy",
      owner: o("dba"),
      facts: sync ? [`rows written on AWS after cut-over and copied back: inserted ${count(sync.inserted)}, updated ${count(sync.updated)}, deleted ${count(sync.deleted)}`] : ["sync not recorded"],
    },
    {
      when: "week",
      action: "Team retrospective and improvements",
      owner: o("systemAdmin"),
      facts: [
        ...i.phases.map((p) => `${p.title}: ${p.status === "not-run" ? "not run" : `${formatDuration(p.durationMs)} of ${formatDuration(p.budgetMs)} (${p.status})`}`),
      ],
    },
    { when: "week", action: "Process improvement plan", owner: o("infraTeam"), facts: over.length || failedSteps.length ? [...over, ...failedSteps] : slowest },
    {
      when: "week",
      action: "Update the runbook documents and train the team (rehearse with scripts/drill.ts)",
      owner: o("appTeam"),
      facts: [`runbook: ${STEPS.length} steps (lib/runbook.ts)`, ...slowest],
    },
  ];
}
