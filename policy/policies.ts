import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

/**
 * The CrossGuard policies of the rollback stacks. CrossGuard validates the resources a program
 * declares (their inputs and options), not the plan's operations, so "never replace or delete a
 * long-lived object" is enforced as "a long-lived object is not declared, or is protected"
 * (protect makes the engine refuse both). The plan's ops are gated by scripts/impact.ts.
 *
 * Not checkable here: retainOnDelete. The analyzer protocol hands policies protect,
 * ignoreChanges, deleteBeforeReplace, additionalSecretOutputs, aliases, customTimeouts and
 * parent (pulumi proto AnalyzerResourceOptions; @pulumi/policy PolicyResourceOptions), nothing
 * more; the impact gate reads retainOnDelete from the preview's states instead. Nor can a
 * policy tell a secret input from a plain one: validation receives secrets unwrapped
 * (@pulumi/policy deserializeProperties(..., false)), so the secret rule looks at the text.
 */

/** Objects that outlive any switch: the stacks reference them by id and must never own them unprotected. */
export const LONG_LIVED_TYPES: readonly string[] = [
  "aws:route53/zone:Zone",
  "aws:secretsmanager/secret:Secret",
  "aws:kms/key:Key",
  "aws:rds/instance:Instance",
  "aws:rds/cluster:Cluster",
  "aws:rds/clusterInstance:ClusterInstance",
  "docker:index/container:Container",
  "docker:index/volume:Volume",
];

const COMMAND_TYPES = ["command:local:Command", "command:remote:Command"];

/** The command strings @pulumi/command runs and prints in full when they fail (NOTES.md). */
const COMMAND_FIELDS = ["create", "update", "delete"] as const;

/**
 * What a secret looks like in a command line. The rule names what matched, never the text.
 * `-p` alone is not one of them: `nginx -p PREFIX` is common; MySQL's `-pSECRET` is caught by
 * MYSQL_PWD / --password and by the URL form the runbook uses.
 */
const SECRET_SHAPES: readonly { readonly name: string; readonly re: RegExp }[] = [
  { name: "a URL with a password (scheme://user:password@host)", re: /[a-z][a-z0-9+.-]*:\/\/[^\s:@/'"]+:[^\s@/'"]+@/i },
  { name: "a --password/--pass flag with a value", re: /(^|\s)--pass(word)?(=|\s+)(?!-)\S/i },
  { name: "a password variable assignment (PASSWORD=, MYSQL_PWD=, PGPASSWORD=)", re: /\b[A-Z_]*(PASSWORD|PASSWD|MYSQL_PWD)=\S/ },
  { name: "SQL IDENTIFIED BY", re: /\bIDENTIFIED\s+(WITH\s+\S+\s+)?BY\b/i },
  { name: "an Authorization header or bearer token", re: /\b(authorization:|bearer\s+[A-Za-z0-9._~+/-]{8,})/i },
  { name: "an AWS secret access key", re: /\baws_secret_access_key\b|AWS_SECRET_ACCESS_KEY=/i },
  { name: "a webhook URL with its token", re: /hooks\.slack\.com\/services\/\S+|\/webhooks?\/[A-Za-z0-9_-]{16,}/i },
];

/** The shapes of secrets found in `text` (names only). Pure. */
export function secretShapes(text: string): string[] {
  return SECRET_SHAPES.filter((s) => s.re.test(text)).map((s) => s.name);
}

type Check = (args: ResourceValidationArgs, report: ReportViolation) => void;

function policy(name: string, description: string, check: Check): ResourceValidationPolicy {
  return { name, description, enforcementLevel: "mandatory", validateResource: check };
}

export const longLivedObjectsProtected = policy(
  "long-lived-objects-protected",
  "The hosted zone, the secret container, KMS keys, the RDS instance and the IDC container and volume are referenced by id; declared at all, they must be protected, so no replace or destroy can delete them.",
  (args, report) => {
    if (LONG_LIVED_TYPES.includes(args.type) && !args.opts.protect) {
      report(`${args.type} "${args.name}" is declared without protect: a replace or a destroy of this stack would delete it. Reference it by id, or adopt it with the import option and protect: true.`);
    }
  },
);

export const remoteCommandsWithoutEnvironment = policy(
  "remote-commands-without-environment",
  "Remote (SSH) commands get no environment: default sshd refuses Setenv (AcceptEnv), so the step fails before it runs.",
  (args, report) => {
    if (args.type !== "command:remote:Command") return;
    const keys = Object.keys((args.props.environment as Record<string, unknown> | undefined) ?? {});
    if (keys.length > 0) report(`remote command "${args.name}" sets environment ${keys.join(", ")}: sshd accepts only what AcceptEnv lists (default: LANG, LC_*). Pass values in a file on the host or on stdin.`);
  },
);

export const noSecretInCommandLines = policy(
  "no-secret-in-command-lines",
  "A command line holds no secret: @pulumi/command prints the whole command string and its output when it fails, whatever `logging` says. Secrets travel in environment (local) or stdin.",
  (args, report) => {
    if (!COMMAND_TYPES.includes(args.type)) return;
    for (const field of COMMAND_FIELDS) {
      const text = args.props[field];
      if (typeof text !== "string") continue;
      const found = secretShapes(text);
      if (found.length > 0) report(`command "${args.name}" ${field} holds ${found.join("; ")}: move it to environment or stdin.`);
    }
  },
);

export const POLICIES: readonly ResourceValidationPolicy[] = [longLivedObjectsProtected, remoteCommandsWithoutEnvironment, noSecretInCommandLines];
