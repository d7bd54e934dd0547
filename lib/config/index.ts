import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { RollbackError, isRollbackError } from "../errors";
import { CONFIG_KEYS, ConfigSchema, type RollbackConfig, SECRET_PATHS } from "./schema";

export * from "./run-id";
export * from "./schema";

/** The project name, hence the config namespace: keys are `rollback:target`, `rollback:idc`, ... */
const NAMESPACE = "rollback";

/**
 * Reads every `rollback:*` key, validates them together and returns the typed model with
 * secret leaves as secret Outputs. Throws one RollbackError (`CONFIG_INVALID`) naming the
 * first offending key, and counting the others, before the program registers anything.
 */
export function loadConfig(): RollbackConfig {
  const cfg = new pulumi.Config(NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const text = cfg.get(key);
    if (text !== undefined) raw[key] = key === "target" ? text : parseObject(key, text);
  }
  // The namespace's other keys (not declared by this project): parseConfig refuses the first.
  for (const k of Object.keys(pulumi.runtime.allConfig()).filter((k) => k.startsWith(`${NAMESPACE}:`))) {
    const key = k.slice(NAMESPACE.length + 1);
    if (!(key in raw)) raw[key] = undefined;
  }
  return parseConfig(raw, new pulumi.Config("aws").get("region"));
}

/**
 * Validates the `rollback:*` values (key without namespace -> value) together; `awsRegion` is
 * `aws:region`. The Pulumi program (loadConfig) and scripts/preflight.ts --stack (which reads
 * the stack file without an engine) both call it, so both refuse the same config the same way.
 */
export function parseConfig(raw: Readonly<Record<string, unknown>>, awsRegion: string | undefined): RollbackConfig {
  const unknown = Object.keys(raw).filter((k) => !(CONFIG_KEYS as string[]).includes(k));
  if (unknown.length > 0) {
    throw new RollbackError("CONFIG_INVALID", `${NAMESPACE}:${unknown[0]}`, "is not a key of this project", `known keys: ${CONFIG_KEYS.join(", ")}`);
  }

  const parsed = ConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw configError(parsed.error.issues);
  const config = parsed.data;

  // The RDS API is regional; the instance lives where the AWS provider points unless told otherwise.
  const region = config.rds.region ?? awsRegion;
  if (!region) {
    throw new RollbackError("CONFIG_INVALID", `${NAMESPACE}:rds.region`, "is required when aws:region is not set", "pulumi config set --path rds.region ap-northeast-2");
  }
  return { ...config, rds: { ...config.rds, region } };
}

/**
 * A RollbackError becomes a pulumi.RunError, which the Pulumi CLI prints as one line
 * without a stack trace; anything else is a bug and keeps its stack.
 */
export function asRunError(e: unknown): unknown {
  return isRollbackError(e) ? new pulumi.RunError(e.message) : e;
}

function parseObject(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RollbackError("CONFIG_INVALID", `${NAMESPACE}:${key}`, "must be an object", `set its fields with: pulumi config set --path ${key}.<field> <value>`);
  }
}

/** `["route53", "weightSteps", 0, "target"]` → `route53.weightSteps[0].target`, the `--path` syntax. */
function keyPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
}

interface Problem {
  readonly subject: string;
  readonly problem: string;
  readonly hint?: string;
}

function describeIssue(issue: z.core.$ZodIssue): Problem {
  const path = keyPath(issue.path);
  const subject = `${NAMESPACE}:${path}`;
  const isSecret = (SECRET_PATHS as readonly string[]).includes(path);
  const required = issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_value" || issue.code === "invalid_union");
  if (required) {
    const expected = issue.code === "invalid_type" ? issue.expected : "value";
    return { subject, problem: "is required", hint: `pulumi config set${isSecret ? " --secret" : ""} --path '${path}' <${expected}>` };
  }
  switch (issue.code) {
    case "invalid_type":
      return { subject, problem: `must be ${article(issue.expected)}` };
    case "invalid_value":
      // Only enum-like keys produce this; none of them is a secret, so echoing the input is safe.
      return { subject, problem: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")} (got ${JSON.stringify(issue.input)})` };
    case "unrecognized_keys":
      return { subject: `${NAMESPACE}:${keyPath([...issue.path, issue.keys[0]])}`, problem: "is not a known key", hint: "check the spelling against Pulumi.yaml" };
    case "too_small":
    case "too_big":
      return { subject, problem: boundProblem(issue) };
    default:
      return { subject, problem: issue.message };
  }
}

function boundProblem(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const bound = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
  const op = small ? (issue.inclusive ? ">=" : ">") : issue.inclusive ? "<=" : "<";
  if (issue.origin === "array") return small ? `must have at least ${bound} item(s)` : `must have at most ${bound} item(s)`;
  if (issue.origin === "string") return small ? (Number(bound) <= 1 ? "must not be empty" : `must be at least ${bound} characters`) : `must be at most ${bound} characters`;
  return `must be ${op} ${bound}`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function configError(issues: readonly z.core.$ZodIssue[]): RollbackError {
  const [first, ...rest] = issues.map(describeIssue);
  const more = rest.length > 0 ? `; ${rest.length} more: ${rest.map((r) => r.subject).join(", ")}` : "";
  return new RollbackError("CONFIG_INVALID", first.subject, first.problem + more, first.hint);
}
