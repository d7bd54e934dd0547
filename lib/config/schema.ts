import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ContactsSchema, NotificationsSchema } from "../contacts";
import { dnsWeights, FLIP } from "../dns-weights";
import { SSL_MODES, SslMode, checkTls } from "../dsn";
import { isRollbackError } from "../errors";
import { parseHostPort, validateUpstream } from "../nginx-upstream";
import { splitCommand } from "../traffic/command";
import { dumpArgv } from "../traffic/nginx-dump";
import { parseExpectation, parseProbeUrl } from "../traffic/probe";
import { ThresholdsSchema } from "../thresholds";

/**
 * The stack's config model (`rollback:<key>`), validated as a whole before any resource
 * is registered. Secret leaves become secret Outputs here, so the rest of the program
 * never holds a password as plain text. Pulumi.yaml documents every key.
 */

/** A secret leaf: set with `pulumi config set --secret --path <key>.<leaf>`. */
const secretString = z.string().min(1).transform((v) => pulumi.secret(v));

const name = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: `must be a ${what} (letters, digits, _ . -)` });
const absolutePath = z.string().regex(/^\/[^\0\n]*$/, { error: "must be an absolute path" });
const port = z.number().int().min(1).max(65535);
const seconds = z.number().int().min(0);
const hostPort = z.string().superRefine((v, ctx) => refineWith(ctx, () => parseHostPort(v, ""), []));
/** Table names reach command lines (quoted); keep them to what MySQL names look like. */
const tableName = z.string().regex(/^[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?$/, { error: "must be a table name (db.table or table)" });

/**
 * Runs a validator from the shared library and turns its RollbackError into an issue: at
 * `path` when given, else at the path its subject names (`weightSteps[0].target`).
 */
function refineWith(ctx: z.RefinementCtx, check: () => void, path?: PropertyKey[]): void {
  try {
    check();
  } catch (e) {
    if (!isRollbackError(e)) throw e;
    ctx.addIssue({ code: "custom", message: e.problem + (e.hint ? ` (${e.hint})` : ""), path: path ?? subjectPath(e.subject) });
  }
}

function subjectPath(subject: string): PropertyKey[] {
  return [...subject.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

/** TLS of an endpoint's connections (lib/dsn.ts): MySQL's ssl-mode names and PEM file paths. */
const Tls = (defaultMode: SslMode) =>
  z
    .object({ mode: z.enum(SSL_MODES).default(defaultMode), ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() })
    .strict()
    .superRefine((t, ctx) => refineWith(ctx, () => checkTls(t, ""), []))
    .prefault({});

/**
 * A MySQL endpoint the runbook connects to; `password` is a secret leaf. `tls.mode` defaults to
 * VERIFY_IDENTITY for AWS (RDS for MySQL 9.7 requires TLS; the RDS CA bundle goes in tls.ca) and
 * PREFERRED for the IDC (TLS when the server offers it).
 */
const Endpoint = (defaultMode: SslMode) =>
  z
    .object({
      host: z.string().min(1),
      port: port.default(3306),
      database: z.string().min(1),
      user: z.string().min(1),
      password: secretString,
      tls: Tls(defaultMode),
    })
    .strict()
    .superRefine((e, ctx) => refineWith(ctx, () => parseHostPort(`${e.host}:${e.port}`, ""), ["host"]));

const SshConnection = z
  .object({
    mode: z.literal("ssh"),
    host: z.string().min(1),
    port: port.default(22),
    user: z.string().min(1),
    privateKey: secretString.optional(),
    password: secretString.optional(),
    agentSocketPath: z.string().optional(),
    /** Where this project is checked out on the host (the scripts run from there). */
    projectDir: absolutePath,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.privateKey && !c.password && !c.agentSocketPath) {
      ctx.addIssue({ code: "custom", message: "needs privateKey or password (secret) or agentSocketPath", path: ["privateKey"] });
    }
  });

/** How command resources reach a host: on the Pulumi runner itself, or over SSH. */
const Connection = z.discriminatedUnion("mode", [z.object({ mode: z.literal("local") }).strict(), SshConnection], {
  error: 'must be "local" or "ssh"',
});

const Nginx = z
  .object({
    connection: Connection.default({ mode: "local" }),
    upstreamName: z.string().min(1),
    kind: z.enum(["http", "stream"]),
    file: absolutePath,
    testCommand: z.string().min(1).default("nginx -t"),
    reloadCommand: z.string().min(1).default("nginx -s reload"),
    /** switch-upstream --dump-cmd: lists the files nginx loads; default: testCommand with its -t turned into -T. */
    dumpCommand: z.string().min(1).optional(),
    maintenanceFlag: absolutePath,
    /**
     * switch-upstream's proof that traffic moved (docs/traffic-edge.md): `http`: url + expect
     * (`header:NAME=VALUE` or `body:TEXT`, what the new side's backends return); `stream`: mysql,
     * nginx's listen address for MySQL, reached with the target's credentials (from the
     * environment, or over SSH from credentialsFile on the nginx host: sshd refuses Setenv).
     */
    probe: z
      .object({
        url: z.string().optional(),
        expect: z.string().optional(),
        mysql: hostPort.optional(),
        credentialsFile: absolutePath.optional(),
        timeoutSeconds: z.number().int().min(1).max(600).default(10),
      })
      .strict(),
    idcServers: z.array(hostPort).min(1),
    awsServers: z.array(hostPort).min(1),
    maxFails: z.number().int().min(0).optional(),
    failTimeoutS: z.number().int().min(1).optional(),
  })
  .strict()
  // The upstream-name rule lives in lib/nginx-upstream.ts; a placeholder server makes
  // validateUpstream judge the name alone (the server lists are checked item by item above).
  .superRefine((n, ctx) => {
    refineWith(ctx, () => validateUpstream({ name: n.upstreamName, kind: n.kind, servers: [{ host: "x", port: 1 }] }), ["upstreamName"]);
    // The commands are split and derived by the functions switch-upstream uses, so a command
    // the switch would refuse mid-runbook (an unquoted "|", a test command without -t and no
    // dumpCommand) is refused here, before anything runs.
    refineWith(ctx, () => splitCommand(n.reloadCommand, ""), ["reloadCommand"]);
    refineWith(ctx, () => (n.dumpCommand === undefined ? dumpArgv(splitCommand(n.testCommand, ""), "") : splitCommand(n.testCommand, "")), ["testCommand"]);
    if (n.dumpCommand !== undefined) refineWith(ctx, () => splitCommand(n.dumpCommand!, ""), ["dumpCommand"]);
    // The probe must fit the kind: the switch refuses a probe of the other kind mid-runbook.
    const p = n.probe;
    if (n.kind === "http") {
      if (p.url === undefined) ctx.addIssue({ code: "custom", message: "an http upstream needs probe.url (a URL through nginx)", path: ["probe", "url"] });
      else refineWith(ctx, () => parseProbeUrl(p.url!, ""), ["probe", "url"]);
      if (p.expect === undefined) ctx.addIssue({ code: "custom", message: "an http upstream needs probe.expect (header:NAME=VALUE or body:TEXT)", path: ["probe", "expect"] });
      else refineWith(ctx, () => parseExpectation(p.expect!, ""), ["probe", "expect"]);
      if (p.mysql !== undefined) ctx.addIssue({ code: "custom", message: "probe.mysql is for a stream upstream", path: ["probe", "mysql"] });
    } else {
      if (p.mysql === undefined) ctx.addIssue({ code: "custom", message: "a stream upstream needs probe.mysql (nginx's listen address for MySQL)", path: ["probe", "mysql"] });
      if (p.url !== undefined || p.expect !== undefined) ctx.addIssue({ code: "custom", message: "probe.url/expect are for an http upstream", path: ["probe", "url"] });
      if (n.connection.mode === "ssh" && p.credentialsFile === undefined) {
        ctx.addIssue({ code: "custom", message: "over SSH the MySQL probe reads its credentials from probe.credentialsFile on the nginx host (sshd refuses Setenv)", path: ["probe", "credentialsFile"] });
      }
    }
  });

const ConnectionSecret = z
  .object({
    store: z.enum(["secretsmanager", "ssm"]).default("secretsmanager"),
    /** The existing Secrets Manager secret (ARN or name) or SSM parameter name; never created here. */
    id: z.string().min(1),
    format: z.enum(["json", "url"]).default("json"),
    /**
     * ssm: the KMS key the parameter is encrypted with. The stack rewrites the parameter, and a
     * SecureString written without a key id gets the account's default key (alias/aws/ssm; SSM
     * PutParameter, KeyId), which apps allowed only the old key cannot decrypt. Preflight compares it.
     */
    kmsKeyId: z.string().min(1).optional(),
    extras: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** Run after the secret changed, so apps drop cached secrets and pooled connections. */
    recycleCommand: z.string().min(1).optional(),
    /** After the recycle: how long the app's sessions may take to leave the old side and appear on the new one. */
    sessionsTimeoutSeconds: z.number().int().min(1).default(120),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.store === "secretsmanager" && c.kmsKeyId !== undefined) {
      ctx.addIssue({ code: "custom", message: "is for store ssm: a new Secrets Manager version is encrypted with the secret's own key", path: ["kmsKeyId"] });
    }
    if (c.store === "ssm" && !c.id.startsWith("/") && c.id.includes("/")) {
      ctx.addIssue({ code: "custom", message: "an SSM parameter name with a path must start with /", path: ["id"] });
    }
  });

const RecordSet = (side: string) =>
  z
    .object({
      setIdentifier: z.string().min(1).max(128).default(side),
      records: z.array(z.string().min(1)).min(1),
    })
    .strict();

const WeightStep = z.object({ target: z.number(), source: z.number() }).strict();

const Route53 = z
  .object({
    zoneId: z.string().regex(/^[A-Z0-9]{1,32}$/, { error: "must be a hosted zone id such as Z0123456789ABC" }),
    name: z.string().min(1),
    type: z.enum(["A", "AAAA", "CNAME"]),
    ttl: z.number().int().min(0).max(2147483647).default(60),
    idc: RecordSet("idc"),
    aws: RecordSet("aws"),
    weightSteps: z.array(WeightStep).default([...FLIP]),
    step: z.number().int().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    // Weight ranges and the step index are checked by the same function that computes them.
    refineWith(ctx, () => dnsWeights("idc", r, ""));
    if (r.idc.setIdentifier === r.aws.setIdentifier) {
      ctx.addIssue({ code: "custom", message: "must differ from aws.setIdentifier", path: ["idc", "setIdentifier"] });
    }
    if (r.type === "CNAME") {
      for (const side of ["idc", "aws"] as const) {
        if (r[side].records.length !== 1) ctx.addIssue({ code: "custom", message: "a CNAME has exactly one value", path: [side, "records"] });
      }
    }
  });

const StopGuard = z
  .object({
    enabled: z.boolean().default(false),
    /** An existing role EventBridge Scheduler assumes, allowed rds:StopDBInstance on the instance. */
    roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, { error: "must be an IAM role ARN" }).optional(),
    scheduleName: z.string().regex(/^[0-9A-Za-z_.-]{1,64}$/, { error: "must be 1-64 of 0-9A-Za-z_.-" }).optional(),
    groupName: z.string().min(1).default("default"),
    scheduleExpression: z.string().regex(/^(rate|cron)\(.+\)$/, { error: "must be rate(...) or cron(...)" }).default("rate(1 day)"),
  })
  .strict()
  .superRefine((g, ctx) => {
    if (g.enabled && !g.roleArn) ctx.addIssue({ code: "custom", message: "is required when the stop guard is enabled", path: ["roleArn"] });
  });

/** RDS instance identifiers: letter first, letters/digits/hyphens, no `--`, no trailing `-` (RDS API). */
const rdsIdentifier = z.string().regex(/^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$/, { error: "must be an RDS identifier (letter first, letters, digits, single hyphens)" });

const Rds = z
  .object({
    instanceId: rdsIdentifier,
    /** Defaults to `aws:region`. */
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: "must be an AWS region such as ap-northeast-2" }).optional(),
    finalSnapshot: z.boolean().default(true),
    snapshotPrefix: rdsIdentifier.default("rollback-final"),
    pollIntervalSeconds: z.number().int().min(1).default(30),
    timeoutMinutes: z.number().int().min(1).default(60),
    stopGuard: StopGuard.prefault({}),
  })
  .strict();

/**
 * The running IDC MySQL container, checked (and restarted) by the idc-health step through the
 * docker CLI. Only its name and host: the switch stacks do not own the container (a
 * `docker.Container` declared with the production container's name fails on the name, and once
 * imported any difference replaces it, deleteBeforeReplace: docs/pulumi.md).
 */
const IdcMysql = z
  .object({
    /** The IDC docker daemon, e.g. `ssh://deploy@idc-db-1` (docker's own DOCKER_HOST syntax). */
    dockerHost: z.string().regex(/^(unix|tcp|ssh|npipe):\/\/.+$/, { error: "must be a docker host URL (unix://, tcp:// or ssh://)" }),
    containerName: name("container name"),
    waitTimeoutSeconds: z.number().int().min(1).default(300),
    restartIfUnhealthy: z.boolean().default(true),
  })
  .strict();

/** scripts/health.ts flags, run against the live database after the nginx switch. */
const Health = z
  .object({
    /** Fail when the live database is read_only: a rollback target must take writes. */
    expectWritable: z.boolean().default(true),
    http: z.array(z.url({ error: "must be an http(s) URL" })).default([]),
    expectStatus: z.number().int().min(100).max(599).optional(),
    expectBody: z.string().optional(),
    maxLatencyMs: z.number().int().min(1).optional(),
    canaryTable: tableName.optional(),
    createCanary: z.boolean().default(false),
    disks: z.array(absolutePath).default([]),
    minDiskFreePct: z.number().min(0).max(100).optional(),
    minMemFreeMb: z.number().min(0).optional(),
  })
  .strict();

/** A fenced account: a name (every host entry) or name@host, as scripts/fence.ts --users takes it. */
const fenceUser = z.string().regex(/^[^@,\s'"`]+(@[^@,\s'"`]+)?$/, { error: "must be an account name or name@host (no commas, quotes or spaces)" });

/**
 * The zero-loss fence (scripts/fence.ts, docs/runbook.md): the application accounts locked on
 * the side being left right after maintenance-on, the settle check before rds-power.
 */
const Fence = z
  .object({
    /** The application's accounts (never the runbook's own user: the fence would lock it out). */
    users: z.array(fenceUser).min(1),
    method: z.enum(["account-lock", "read-only"]).default("account-lock"),
    /** How long the fence waits for the accounts' open transactions before killing their sessions. */
    timeoutSeconds: seconds.default(30),
    /** Guardrail: seconds over which writes by accounts outside `users` are counted before the fence. */
    quietSeconds: seconds.default(5),
    /** Guardrail: refuse while a transaction on the side being left is older than this. */
    maxTransactionSeconds: seconds.default(60),
    /**
     * When proof-check (right after verify, before traffic moves) finds the side being left
     * moved: false stops the run; true syncs the delta once more, verifies, and checks again (at
     * most twice). settle, before rds-power, never re-syncs: the target is live by then.
     */
    resyncOnMove: z.boolean().default(false),
  })
  .strict();

const Runbook = z
  .object({
    tables: z.array(tableName).optional(),
    exclude: z.array(tableName).optional(),
    chunkSize: z.number().int().min(1).optional(),
    drainTimeoutSeconds: seconds.default(120),
    drainKill: z.boolean().default(false),
    backupPaths: z.array(z.string().min(1)).min(1),
    backupMaxAgeHours: z.number().positive().default(24),
    health: Health.prefault({}),
    /** Each run writes `<timelineDir>/<runId>/timeline.jsonl` and its report next to it. */
    timelineDir: z.string().min(1).default(".rollback"),
    /**
     * False when the cut-over never took user traffic: IDC is still the truth and AWS may hold
     * an incomplete load, so the runbook runs no sync and no verify (a sync would copy AWS's
     * gaps over IDC) and the traffic steps wait for `diff` instead.
     */
    copyBack: z.boolean().default(true),
    /** scripts/sync.ts --max-shrink-pct: refuse a sync that would remove more of a table (100 disables). */
    maxShrinkPct: z.number().min(0).max(100).default(5),
    /** scripts/sync.ts --allow-shrink: tables whose rows users really deleted on the side being left. */
    allowShrink: z.array(tableName).optional(),
    /** scripts/sync.ts --cutover-proof: the cut-over run's timeline.jsonl (its verify proves the load complete). */
    cutoverProof: z.string().min(1).optional(),
    fence: Fence,
  })
  .strict()
  .superRefine((r, ctx) => {
    // sync.ts rejects the name at run time; here it is caught before anything runs.
    for (const [i, t] of (r.allowShrink ?? []).entries()) {
      if (r.tables && !r.tables.includes(t)) ctx.addIssue({ code: "custom", message: `"${t}" is not in runbook.tables, so the sync never writes it`, path: ["allowShrink", i] });
      if (r.exclude?.includes(t)) ctx.addIssue({ code: "custom", message: `"${t}" is excluded, so the sync never writes it`, path: ["allowShrink", i] });
    }
  });

/** Every project key, in the order Pulumi.yaml lists them. */
export const ConfigSchema = z
  .object({
    target: z.enum(["idc", "aws"]),
    idc: Endpoint("PREFERRED"),
    aws: Endpoint("VERIFY_IDENTITY"),
    nginx: Nginx,
    connectionSecret: ConnectionSecret,
    route53: Route53,
    rds: Rds,
    idcMysql: IdcMysql,
    runbook: Runbook,
    thresholds: ThresholdsSchema.prefault({}),
    contacts: ContactsSchema,
    // lib/contacts.ts keeps the webhook URL a plain string; here it becomes a secret Output.
    notifications: NotificationsSchema.prefault({}).transform((n) => ({ ...n, webhookUrl: n.webhookUrl === undefined ? undefined : pulumi.secret(n.webhookUrl) })),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [i, u] of c.runbook.fence.users.entries()) {
      const sides = (["idc", "aws"] as const).filter((side) => u.split("@")[0] === c[side].user);
      if (sides.length) ctx.addIssue({ code: "custom", message: `"${u}" is the runbook's own account (${sides.map((x) => `${x}.user`).join(", ")}): the fence would lock the runbook out`, path: ["runbook", "fence", "users", i] });
    }
    if (c.target === "aws" && !c.runbook.copyBack) {
      ctx.addIssue({
        code: "custom",
        message: "false skips the data load, and the cut-over is what loads AWS (copyBack: false is for the rollback stack, when the cut-over never took user traffic)",
        path: ["runbook", "copyBack"],
      });
    }
  });

type ParsedConfig = z.output<typeof ConfigSchema>;
/** The config the program uses: parsed, with `rds.region` resolved (it defaults to `aws:region`). */
export type RollbackConfig = Omit<ParsedConfig, "rds"> & { readonly rds: ParsedConfig["rds"] & { readonly region: string } };
type ConfigKey = keyof ParsedConfig;
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as ConfigKey[];

/** Leaves that hold secrets, as `--path` keys (for hints and the plain-text leak test). */
export const SECRET_PATHS = ["idc.password", "aws.password", "nginx.connection.privateKey", "nginx.connection.password", "notifications.webhookUrl"] as const;

export type Endpoint = RollbackConfig["idc"];
type NginxConfig = RollbackConfig["nginx"];
export type ConnectionConfig = NginxConfig["connection"];
