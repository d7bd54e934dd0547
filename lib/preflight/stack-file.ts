import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { type RollbackConfig, parseConfig } from "../config";
import { RollbackError, messageOf } from "../errors";

/*
 * preflight --stack: the stack file read without an engine. Its own module because lib/config
 * brings @pulumi/pulumi (a second of start-up), which the runbook's --inputs-json run never needs.
 */

/**
 * A secure leaf of a stack file (`password: {secure: v1:...}`), encrypted with the stack's key:
 * only the Pulumi CLI can decrypt it. Validation needs a value there, not the secret; the
 * secrets preflight uses come from the environment.
 */
const SECRET_PLACEHOLDER = "[secret]";

function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.secure === "string") return SECRET_PLACEHOLDER;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, withoutSecrets(v)]));
  }
  return value;
}

/**
 * Reads `<projectDir>/Pulumi.<stack>.yaml` and validates its `rollback:*` keys with the program's
 * own parseConfig, so `preflight --stack` refuses exactly what `pulumi up` would refuse.
 * Config set only in a Pulumi ESC environment is not in the file and is not seen here.
 */
export async function readStackConfig(projectDir: string, stack: string): Promise<RollbackConfig> {
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new RollbackError("ARGS_INVALID", "--stack", `"${stack}" is not a stack name`);
  const file = join(projectDir, `Pulumi.${stack}.yaml`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new RollbackError("FILE_UNREADABLE", file, messageOf(e), `is ${stack} a stack of this project? (pulumi stack ls)`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new RollbackError("FILE_UNPARSEABLE", file, messageOf(e));
  }
  const config = (doc as { config?: Record<string, unknown> } | null)?.config ?? {};
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith("rollback:")) raw[key.slice("rollback:".length)] = withoutSecrets(value);
  }
  const region = config["aws:region"];
  return parseConfig(raw, typeof region === "string" ? region : undefined);
}
