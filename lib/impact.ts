import { z } from "zod";
import { RollbackError, messageOf } from "./errors";

/**
 * The impact gate: what a `pulumi preview --json` says a run will move, and whether it would
 * replace or delete anything but a runbook command. The switch workflow runs it between
 * preview and up (saved plans are experimental in Pulumi, so the gate reads the preview).
 *
 * The document is Pulumi's PreviewDigest (sdk/go/common/display/json.go): `steps[]` of
 * {op, urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff},
 * `changeSummary`, `diagnostics`; the states are apitype.ResourceV3 (sdk/go/common/apitype/
 * core.go: urn, custom, type, inputs, outputs, parent, protect, retainOnDelete, ...). Step ops
 * from pkg/resource/deploy/step.go. Secrets appear as "[secret]"; values known only after
 * `up` as Pulumi's unknown sentinel.
 */

const State = z
  .object({
    urn: z.string(),
    type: z.string(),
    custom: z.boolean().optional(),
    inputs: z.record(z.string(), z.unknown()).optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
    retainOnDelete: z.boolean().optional(),
    protect: z.boolean().optional(),
  })
  .loose();

const PreviewStep = z
  .object({
    op: z.string(),
    urn: z.string(),
    oldState: State.optional(),
    newState: State.optional(),
    diffReasons: z.array(z.string()).optional(),
    replaceReasons: z.array(z.string()).optional(),
    detailedDiff: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .loose();

const PreviewDigest = z
  .object({
    steps: z.array(PreviewStep).optional(),
    diagnostics: z.array(z.object({ urn: z.string().optional(), message: z.string().optional(), severity: z.string().optional() }).loose()).optional(),
    changeSummary: z.record(z.string(), z.number()).optional(),
  })
  .loose();

export type PreviewStep = z.output<typeof PreviewStep>;
export type PreviewDigest = z.output<typeof PreviewDigest>;

/** Pulumi's sentinel for a value known only once `up` runs (sdk/go/common/resource/plugin UnknownStringValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Ops that change nothing outside Pulumi's state. */
const QUIET_OPS = new Set(["same", "read", "refresh", "discard"]);
/**
 * Ops that write in place or create, never remove: what a switch is made of. Every other op
 * (delete, replace, create-replacement, delete-replaced, and any op a newer engine adds) is
 * treated as removing or swapping the object.
 */
const WRITE_OPS = new Set(["create", "update", "import"]);

/** Runbook commands are re-run by replacement (a new run id is a new trigger: pulumi-command #855); replacing one runs a step, it removes nothing. */
const COMMAND_TYPES = new Set(["command:local:Command", "command:remote:Command"]);

export function parsePreview(text: string, subject: string): PreviewDigest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RollbackError("PREVIEW_INVALID", subject, `is not JSON: ${messageOf(e)}`, "pass the output of pulumi preview --json");
  }
  const parsed = PreviewDigest.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RollbackError("PREVIEW_INVALID", subject, `${issue.path.join(".") || "document"}: ${issue.message}`, "pass the output of pulumi preview --json");
  }
  return parsed.data;
}

/** `urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME` → NAME (names may contain "::"). */
export function urnName(urn: string): string {
  return urn.split("::").slice(3).join("::");
}

/** The type token of a step's resource: from its state, else the URN's last type. */
function typeOf(step: PreviewStep): string {
  return step.newState?.type ?? step.oldState?.type ?? (urnTypes(step.urn).at(-1) ?? "");
}

function urnTypes(urn: string): string[] {
  return (urn.split("::")[2] ?? "").split("$");
}

/** Component resources and providers own no object outside Pulumi; the stack resource neither. */
function ownsObject(step: PreviewStep): boolean {
  const type = typeOf(step);
  if (type === "pulumi:pulumi:Stack" || type.startsWith("pulumi:providers:")) return false;
  return (step.newState?.custom ?? step.oldState?.custom) !== false;
}

export interface Refusal {
  readonly op: string;
  readonly urn: string;
  readonly type: string;
  /** Why the step is refused, in words. */
  readonly problem: string;
}

export interface Move {
  /** upstream | dns | secret | ssm-parameter | rds | stop-guard */
  readonly what: string;
  readonly name: string;
  readonly from: string;
  readonly to: string;
}

export interface CommandRun {
  readonly name: string;
  readonly op: string;
  readonly command: string;
}

export interface Impact {
  /**
   * False when anything but a runbook command would be replaced or deleted, a switch object is
   * written without retainOnDelete, or the preview reported an error.
   */
  readonly ok: boolean;
  readonly moves: readonly Move[];
  readonly commands: readonly CommandRun[];
  readonly refused: readonly Refusal[];
  /** The preview's own error diagnostics: a preview that failed proves nothing. */
  readonly errors: readonly string[];
  readonly changeSummary: Readonly<Record<string, number>>;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return "(none)";
  if (v === UNKNOWN) return "(known after up)";
  if (Array.isArray(v)) return v.map(show).join(", ");
  return typeof v === "string" ? v : JSON.stringify(v);
}

function input(s: z.output<typeof State> | undefined, key: string): unknown {
  return s?.inputs?.[key] ?? s?.outputs?.[key];
}

/** Upstream servers from the nginxUpstream text (the stack output): `server HOST:PORT ...;` lines. */
function upstreamServers(text: unknown): string {
  if (typeof text !== "string" || text === UNKNOWN) return show(text);
  const servers = [...text.matchAll(/^\s*server\s+([^;]+);/gm)].map((m) => m[1].trim());
  return servers.length ? servers.join(", ") : "(no servers)";
}

function weightOf(s: z.output<typeof State> | undefined): unknown {
  const policies = input(s, "weightedRoutingPolicies");
  return Array.isArray(policies) ? (policies[0] as { weight?: unknown } | undefined)?.weight : undefined;
}

/** What one changing step moves, when it is one of the switch objects. */
function moveOf(step: PreviewStep): Move | undefined {
  const type = typeOf(step);
  const { oldState: o, newState: n } = step;
  switch (type) {
    case "pulumi:pulumi:Stack": {
      const before = upstreamServers(o?.outputs?.nginxUpstream);
      const after = upstreamServers(n?.outputs?.nginxUpstream);
      return n?.outputs?.nginxUpstream === undefined || before === after ? undefined : { what: "upstream", name: "nginxUpstream", from: before, to: after };
    }
    case "aws:route53/record:Record":
      return { what: "dns", name: `${show(input(n, "name"))} ${show(input(n, "type"))} "${show(input(n, "setIdentifier"))}"`, from: `weight ${show(weightOf(o))}`, to: `weight ${show(weightOf(n))}` };
    case "aws:secretsmanager/secretVersion:SecretVersion":
      return { what: "secret", name: show(input(n, "secretId")), from: o ? `version ${show(o.outputs?.versionId)}` : "(no version from this stack)", to: `a new ${show(input(n, "versionStages"))} version (value [secret])` };
    case "aws:ssm/parameter:Parameter":
      return { what: "ssm-parameter", name: show(input(n, "name")), from: o ? `version ${show(o.outputs?.version)}` : "(not written by this stack yet)", to: `a new value (SecureString, key ${show(input(n, "keyId"))})` };
    case "pulumi-nodejs:dynamic/rds:PowerState":
      return { what: "rds", name: show(input(n, "instanceId")), from: show(o?.outputs?.status), to: `${show(input(n, "desiredState"))}${input(n, "finalSnapshot") === true && input(n, "desiredState") === "stopped" ? " (final snapshot)" : ""}` };
    case "pulumi-nodejs:dynamic/rds:StopGuard":
      return { what: "stop-guard", name: show(input(n, "scheduleName")), from: show(o?.outputs?.observed ?? input(o, "state")), to: show(input(n, "state")) };
    default:
      return undefined;
  }
}

/** Reads the digest: what moves, which commands run, what is refused. Pure. */
export function assessImpact(doc: PreviewDigest): Impact {
  const moves: Move[] = [];
  const commands: CommandRun[] = [];
  const refused: Refusal[] = [];
  for (const step of doc.steps ?? []) {
    if (QUIET_OPS.has(step.op)) continue;
    const type = typeOf(step);
    if (COMMAND_TYPES.has(type)) {
      // Only creating steps run `create`; deleting a retained command runs nothing.
      if (step.op !== "delete" && step.op !== "delete-replaced") commands.push({ name: urnName(step.urn), op: step.op, command: show(input(step.newState, "create")) });
      continue;
    }
    const move = moveOf(step);
    if (!ownsObject(step)) {
      // The stack resource carries the upstream text as an output; components and providers own nothing.
      if (move) moves.push(move);
      continue;
    }
    const refuse = (problem: string) => refused.push({ op: step.op, urn: step.urn, type, problem });
    if (!WRITE_OPS.has(step.op)) {
      const reasons = step.replaceReasons ?? step.diffReasons ?? [];
      const retained = (step.oldState ?? step.newState)?.retainOnDelete === true;
      refuse(
        `${reasons.length ? `because of ${reasons.join(", ")}: ` : ""}only runbook commands may be replaced or deleted by a switch${retained ? " (retainOnDelete would keep the object, but the stack would lose track of it)" : ""}`,
      );
      continue;
    }
    // The switch objects are shared by both stacks: destroying one stack must not delete them.
    // CrossGuard cannot see this option (policy/policies.ts); the preview's state carries it.
    if (step.newState?.retainOnDelete !== true) {
      refuse("a switch object without retainOnDelete: destroying this stack would delete what the other stack uses");
      continue;
    }
    if (move) moves.push(move);
  }
  const errors = (doc.diagnostics ?? []).filter((d) => d.severity === "error").map((d) => `${d.urn ? `${urnName(d.urn)}: ` : ""}${(d.message ?? "").trim()}`);
  return { ok: refused.length === 0 && errors.length === 0, moves, commands, refused, errors, changeSummary: doc.changeSummary ?? {} };
}

/** The human form: what moves, what runs, then one line per refusal. */
export function formatImpact(i: Impact): string[] {
  return [
    ...i.moves.map((m) => `move ${m.what} ${m.name}: ${m.from} -> ${m.to}`),
    ...i.commands.map((c) => `run  ${c.name} (${c.op}): ${c.command}`),
    ...i.errors.map((e) => `ERROR in the preview: ${e}`),
    ...i.refused.map((r) => `REFUSED ${r.op} of ${r.type} ${urnName(r.urn)}: ${r.problem}`),
    i.ok
      ? `impact: ${i.moves.length} move(s), ${i.commands.length} command(s); nothing long-lived is replaced or deleted`
      : `impact: refused (${i.refused.length} step(s), ${i.errors.length} preview error(s)); do not run pulumi up`,
  ];
}
