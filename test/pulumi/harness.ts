import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

/**
 * Test harness for the Pulumi program: stack config from the real stack files, mocks that
 * record what the engine would receive, and helpers for secrets and outputs. Mocks are
 * process-global (setMocks replaces the previous call), so set them up before importing
 * the program, once per stack.
 */

export const ROOT = join(__dirname, "..", "..");
export type StackName = "rollback" | "cutover";

/** What the operator sets with `pulumi config set --secret`; none may appear in plain text anywhere. */
export const SECRETS = {
  "idc.password": "idc-Pa55:w0rd/x",
  "aws.password": "rds-S3cret#pw@1",
  "notifications.webhookUrl": "https://hooks.example.com/services/T000/B000/s3cr3tT0ken",
} as const;

/** Pulumi's marker for a secret value on the wire (what mocks receive for secret inputs). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270";

type Json = Record<string, any>;

/** The `config:` map of Pulumi.<stack>.yaml, with the secret leaves set (as the operator would). */
export function stackFile(stack: StackName): Json {
  const doc = parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config: Json };
  const config = structuredClone(doc.config);
  config["rollback:idc"].password = SECRETS["idc.password"];
  config["rollback:aws"].password = SECRETS["aws.password"];
  config["rollback:notifications"] = { ...config["rollback:notifications"], webhookUrl: SECRETS["notifications.webhookUrl"] };
  return config;
}

/**
 * Sets the stack's config the way the Pulumi CLI passes it to a program: object values as
 * JSON text, and every key that holds a secure leaf listed as secret.
 */
export function useConfig(config: Json): void {
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) values[k] = typeof v === "string" ? v : JSON.stringify(v);
  pulumi.runtime.setAllConfig(values, ["rollback:idc", "rollback:aws", "rollback:notifications"]);
}

export function isWrappedSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Json)[SECRET_SIG] === SECRET_VALUE_SIG;
}

/** Secret inputs reach mocks wrapped; this returns the plain values (for assertions on content). */
export function unwrapSecrets(v: unknown): any {
  if (isWrappedSecret(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** Replaces every secret-wrapped value with "[secret]": what is left is what shows in plain text. */
export function redactSecrets(v: unknown): any {
  if (isWrappedSecret(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x)]));
  return v;
}

export interface Registered {
  readonly type: string;
  readonly name: string;
  /** As received: secrets wrapped. */
  readonly inputs: Json;
}

/** Outputs a real provider would compute, so the program's outputs resolve under mocks. */
function computed(type: string, name: string, inputs: Json): Json {
  switch (type) {
    case "aws:secretsmanager/secretVersion:SecretVersion":
      return { arn: `arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:${name}`, versionId: `${name}-v1` };
    case "aws:ssm/parameter:Parameter":
      return { arn: `arn:aws:ssm:ap-northeast-2:123456789012:parameter${String(unwrapSecrets(inputs.name))}` };
    case "command:local:Command":
    case "command:remote:Command":
      return { stdout: "{}", stderr: "" };
    default:
      return {};
  }
}

/** Records every resource the program registers, as the engine would receive it. */
export class Recorder {
  readonly resources: Registered[] = [];
  /** A resource whose registration should fail, as a failed `create` would. */
  failing?: (r: Registered) => boolean;

  readonly mocks: pulumi.runtime.Mocks = {
    newResource: (args) => {
      const r: Registered = { type: args.type, name: args.name, inputs: args.inputs };
      this.resources.push(r);
      if (this.failing?.(r)) throw new Error(`${args.name}: create failed (mock)`);
      return { id: `${args.name}-id`, state: { ...args.inputs, ...computed(args.type, args.name, args.inputs) } };
    },
    call: (args) => args.inputs,
  };

  byName(name: string): Registered {
    const r = this.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource named ${name}; have ${this.resources.map((x) => x.name).join(", ")}`);
    return r;
  }

  ofType(type: string): Registered[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** Waits until no new resource has been registered for a few ticks (registrations are async). */
  async settled(): Promise<this> {
    let seen = -1;
    for (let stable = 0; stable < 5; ) {
      await new Promise((r) => setTimeout(r, 10));
      stable = this.resources.length === seen ? stable + 1 : 0;
      seen = this.resources.length;
    }
    return this;
  }
}

/** Puts Pulumi in test mode for `stack` with `config`; returns the recorder. */
export async function mockStack(stack: StackName, config: Json, preview = false): Promise<Recorder> {
  const recorder = new Recorder();
  useConfig(config);
  await pulumi.runtime.setMocks(recorder.mocks, "rollback", stack, preview);
  return recorder;
}

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** The stack outputs of a freshly imported program, resolved. */
export async function outputsOf(program: Json): Promise<Json> {
  const out: Json = {};
  for (const [k, v] of Object.entries(program)) out[k] = pulumi.Output.isInstance(v) ? await promiseOf(v) : v;
  return out;
}
