import { scriptOf } from "../../components/command-line";
import { directionOf, dispatch, idcHealthArgs, idcHealthEnvironment, planStep, plannedSteps, preflightArgs, type StepPlan, switchUpstreamArgs, switchUpstreamEnvironment } from "../../components/runbook/plan";
import type { RollbackConfig } from "../config";
import { dnsWeights, Side } from "../dns-weights";
import { parseHostPort, renderUpstream } from "../nginx-upstream";
import type { Changes } from "../report";
import { StepId, STEPS } from "../runbook";
import { appendEntry, parseReport, runChild, runStep, stepPhase, TimelineEntry } from "../timeline";
import { resolveOutput } from "./config";
import { DrillEnvironment, scriptArgv } from "./environment";
import type { View } from "./view";

/**
 * Runs the runbook of lib/runbook.ts, the steps and order the Pulumi Runbook runs for this
 * config (components/runbook/plan.ts plannedSteps), each step from the plan the Runbook builds
 * its resources from (plan.ts STEP_PLANS), the way its resource would:
 * - command steps: the script with the plan's arguments and environment (secrets in the
 *   environment only), through the same step runner as scripts/step.ts;
 * - nginx-upstream and idc-health: the script their component runs (switch-upstream.ts,
 *   idc-mysql.ts), with the arguments plan.ts builds for the component (switchUpstreamArgs, idcHealthArgs);
 * - connection-secret: the component's value (lib/connection-string.ts) written to the drill's
 *   secret file instead of Secrets Manager, then the configured recycle command;
 * - dns-weights: the component's weights computed (lib/dns-weights.ts) and recorded: no Route53 here;
 * - rds-power: recorded as not run: no AWS here.
 * Like `pulumi up`, a failed step stops the run: nothing after it is created.
 */
export interface RunbookRun {
  /** "idc": the rollback; "aws": the forward cut-over (the other stack). */
  readonly target: Side;
  readonly env: DrillEnvironment;
  readonly config: RollbackConfig;
  readonly timeline: string;
  readonly view: View;
  /** Scenario faults: run just before / after a step. */
  readonly before?: Partial<Record<StepId, () => Promise<void>>>;
  readonly after?: Partial<Record<StepId, () => Promise<void>>>;
  /** Called as each step starts (notifications, the live view). */
  readonly onStep?: (step: StepId) => void;
}

export interface RunbookResult {
  /** Every step ran and succeeded. */
  readonly completed: boolean;
  readonly failedStep?: StepId;
  readonly entries: TimelineEntry[];
  /** What the Pulumi-managed layers were set to (the stack outputs; env ROLLBACK_CHANGES for the report). */
  readonly changes: Changes;
}

function standIn(step: StepId, startedAt: number, status: TimelineEntry["status"], report: unknown, note: string): TimelineEntry {
  const { phase, budgetMs } = stepPhase(step);
  return { step, phase, startedAt: new Date(startedAt).toISOString(), durationMs: Date.now() - startedAt, budgetMs, status, exitCode: null, report, note };
}

export async function runRunbook(r: RunbookRun): Promise<RunbookResult> {
  const { env, config, view } = r;
  const direction = directionOf(r.target);
  const entries: TimelineEntry[] = [];
  const servers = (direction.target === "idc" ? config.nginx.idcServers : config.nginx.awsServers).map((s, i) => parseHostPort(s, `nginx.servers[${i}]`));
  const weights = dnsWeights(r.target, config.route53, "rollback:route53");
  const changes: Changes = {
    dnsWeights: weights,
    nginxUpstream: renderUpstream({ name: config.nginx.upstreamName, kind: config.nginx.kind, servers }),
    connectionSecretArn: config.connectionSecret.id,
    rdsDesiredState: `not run: no AWS here (the stack would make it ${r.target === "idc" ? "stopped, with a final snapshot" : "available"})`,
  };

  const recorded = async (entry: TimelineEntry) => {
    await appendEntry(r.timeline, entry);
    return entry;
  };
  const resolveEnv = async (environment: Record<string, unknown>) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(environment)) out[k] = String(await resolveOutput(v));
    return out;
  };

  const script = async (step: StepId, args: readonly (string | number)[], extraEnv: Record<string, string>, okCodes?: readonly number[]) => {
    const { entry } = await runStep({
      step,
      command: scriptArgv(scriptOf(step), args.map(String)),
      env: { ...process.env, ...extraEnv },
      cwd: env.dir,
      timeline: r.timeline,
      okCodes,
      onStderr: (text) => view.child(text),
    });
    return entry;
  };

  const planned = plannedSteps({ ...config, target: r.target }).map((step) => ({ step, plan: planStep(step, config, direction) }));
  for (const { step, plan } of planned) {
    // `report` runs after the drill's checks, unwrapped as the Runbook runs it (lib/drill/index.ts).
    if (plan.kind === "report") continue;
    r.onStep?.(step);
    // lib/runbook.ts words the titles for the rollback; the forward run is the same step toward AWS.
    view.stepStart(step, r.target === "idc" ? STEPS.find((s) => s.id === step)!.title : `the same step toward ${r.target.toUpperCase()} (cutover stack)`);
    await r.before?.[step]?.();
    const t0 = Date.now();
    const entry: TimelineEntry = await dispatch<Exclude<StepPlan, { kind: "report" }>, Promise<TimelineEntry>>(plan, {
      command: async (p) => script(step, p.args, await resolveEnv(p.environment), p.okCodes),
      // The checks whose objects exist on one machine: the two servers, nginx, the backups. No
      // AWS here (Route53, the secret, RDS), and `docker` is the drill's shim, not a daemon.
      preflight: async (p) => script(step, preflightArgs(p.inputs, ["databases", "nginx", "backups"]), await resolveEnv(p.environment)),
      "nginx-upstream": async (p) => script(step, switchUpstreamArgs(p.args, servers), await resolveEnv(switchUpstreamEnvironment(p.args))),
      // The environment components/idcMysql.ts gives idc-mysql.ts, plus a 200 ms poll (the
      // script's default is 1 s: a drill restarts in seconds); `docker` is the drill's shim.
      "idc-health": async (p) =>
        script(step, [...idcHealthArgs(p.args), "--poll-ms", 200], { ...(await resolveEnv(idcHealthEnvironment(p.args))), PATH: `${env.docker.binDir}:${process.env.PATH ?? ""}` }),
      "connection-secret": async (p) => {
        // components/connectionSecret.ts writes this value as the secret's AWSCURRENT version; the drill's
        // apps read a file instead, through their own network path (the relay), as the app user.
        await env.writeSecret(direction.target);
        const recycle = p.args.recycleCommand;
        const said: string[] = [];
        let ok = true;
        if (recycle) {
          const waits = Promise.allSettled([env.apps.aws.nextReload(), env.apps.idc.nextReload()]);
          const res = await runChild(["/bin/sh", "-c", recycle], { onStderr: (t) => view.child(t) });
          for (const w of await waits) said.push(w.status === "fulfilled" ? w.value : String(w.reason));
          ok = res.code === 0 && said.every((l) => l.includes("connection from the secret"));
        }
        // The proof the component runs after the recycle (scripts/app-sessions.ts), polled faster.
        let sessions: unknown = null;
        if (ok && p.args.sessions) {
          const proof = await runChild(scriptArgv(scriptOf(step), [...p.args.sessions.args.map(String), "--poll-ms", "200"]), {
            env: { ...process.env, ...(await resolveEnv(p.args.sessions.environment)) },
            onStderr: (t) => view.child(t),
          });
          sessions = parseReport(proof.stdout);
          ok = proof.code === 0;
        }
        return recorded(
          standIn(
            step,
            t0,
            ok ? "ok" : "failed",
            { ok, secretFile: env.secretFile, apps: said, sessions },
            `stand-in for the Secrets Manager version: wrote ${p.args.format} to ${env.secretFile} (-> ${direction.target}), then ran the recycle command \`${recycle ?? "(none)"}\`${p.args.sessions ? " and proved the app's sessions moved (scripts/app-sessions.ts)" : ""}`,
          ),
        );
      },
      "dns-weights": () =>
        recorded(standIn(step, t0, "ok", { weights }, `computed by lib/dns-weights.ts: idc ${weights.idc}, aws ${weights.aws}; recorded, not applied (no Route53 here)`)),
      // A dynamic provider calling the RDS API: no AWS here.
      "rds-power": (p) =>
        recorded(standIn(step, t0, "not-run", null, `not run: no AWS here (${p.args.desiredState === "stopped" ? "StopDBInstance with a final snapshot" : "StartDBInstance"})`)),
    });
    entries.push(entry);
    view.stepEnd(entry);
    if (entry.status === "failed") return { completed: false, failedStep: step, entries, changes };
    await r.after?.[step]?.();
  }
  return { completed: true, entries, changes };
}
