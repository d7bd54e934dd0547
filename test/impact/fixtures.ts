/**
 * `pulumi preview --json` documents, built from Pulumi's published format rather than captured
 * (no engine runs here): the PreviewDigest of sdk/go/common/display/json.go, filled the way
 * pkg/backend/display/json.go ShowPreviewDigest fills it — one step per shown ResourcePreEvent
 * with op, urn, provider, diffReasons (m.Diffs), replaceReasons (m.Keys), detailedDiff, and
 * old/new states serialized as apitype.ResourceV3 (urn, custom, type, inputs, outputs, parent,
 * retainOnDelete...) with secrets as "[secret]"; diagnostics with severity; changeSummary from
 * the summary event. Ops are pkg/resource/deploy/step.go's StepOp strings.
 */
const STACK = "rollback";
const PROJECT = "rollback";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** `urn:pulumi:rollback::rollback::PARENT$...$TYPE::NAME`, as the engine builds it for a child. */
export function urn(types: readonly string[], name: string): string {
  return `urn:pulumi:${STACK}::${PROJECT}::${types.join("$")}::${name}`;
}

const RUNBOOK = "rollback:runbook:Runbook";
const STACK_TYPE = "pulumi:pulumi:Stack";

export interface StateSpec {
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
  readonly custom?: boolean;
  readonly retainOnDelete?: boolean;
}

function state(types: readonly string[], name: string, s: StateSpec) {
  return {
    urn: urn(types, name),
    custom: s.custom ?? true,
    type: types[types.length - 1],
    inputs: s.inputs ?? {},
    outputs: s.outputs ?? {},
    parent: types.length > 1 ? urn(types.slice(0, -1), name.replace(/-[^-]+$/, "")) : undefined,
    // The program retains every object it writes (components/*: retainOnDelete: true).
    ...((s.retainOnDelete ?? s.custom !== false) ? { retainOnDelete: true } : {}),
  };
}

export interface StepSpec {
  readonly op: string;
  readonly types: readonly string[];
  readonly name: string;
  readonly old?: StateSpec;
  readonly new?: StateSpec;
  readonly diffReasons?: string[];
  readonly replaceReasons?: string[];
}

export function step(s: StepSpec) {
  const deleting = s.op === "delete" || s.op === "delete-replaced";
  return {
    op: s.op,
    urn: urn(s.types, s.name),
    provider: s.types[s.types.length - 1].startsWith("command:") ? "urn:pulumi:rollback::rollback::pulumi:providers:command::default_1_2_1::id" : "",
    ...(s.old ? { oldState: state(s.types, s.name, s.old) } : {}),
    ...(s.new && !deleting ? { newState: state(s.types, s.name, s.new) } : {}),
    ...(s.diffReasons ? { diffReasons: s.diffReasons } : {}),
    ...(s.replaceReasons ? { replaceReasons: s.replaceReasons } : {}),
    detailedDiff: s.diffReasons ? Object.fromEntries(s.diffReasons.map((k) => [k, { kind: s.replaceReasons?.includes(k) ? "update-replace" : "update", inputDiff: false }])) : null,
  };
}

const upstream = (server: string) => `# Managed by the rollback stack (stream upstream); rewritten on every switch.\nupstream shop_db {\n    server ${server};\n}\n`;
const RDS_HOST = "shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com";

export const T = {
  record: [STACK_TYPE, RUNBOOK, "rollback:traffic:DnsWeights", "aws:route53/record:Record"],
  secretVersion: [STACK_TYPE, RUNBOOK, "rollback:traffic:ConnectionSecret", "aws:secretsmanager/secretVersion:SecretVersion"],
  power: [STACK_TYPE, RUNBOOK, "rollback:rds:RdsPower", "pulumi-nodejs:dynamic/rds:PowerState"],
  guard: [STACK_TYPE, RUNBOOK, "rollback:rds:RdsPower", "pulumi-nodejs:dynamic/rds:StopGuard"],
  command: [STACK_TYPE, RUNBOOK, "command:local:Command"],
  upstreamCommand: [STACK_TYPE, RUNBOOK, "rollback:traffic:NginxUpstream", "command:local:Command"],
  runbook: [STACK_TYPE, RUNBOOK],
  stack: [STACK_TYPE],
  container: [STACK_TYPE, RUNBOOK, "rollback:idc:IdcMysql", "docker:index/container:Container"],
} as const;

const weighted = (side: string, weight: number) => ({
  inputs: { name: "db.shop.example.com", type: "CNAME", ttl: 60, setIdentifier: side, records: [`${side}.example.com`], weightedRoutingPolicies: [{ weight }], allowOverwrite: true, zoneId: "Z0123456789ABC" },
});
const run = (name: string, create: string) => ({ op: "replace", types: T.command, name, old: { inputs: { create, triggers: ["run-41"] } }, new: { inputs: { create, triggers: ["run-42"], environment: "[secret]" } }, diffReasons: ["triggers"], replaceReasons: ["triggers"] });

/** A `pulumi preview -s rollback --json` after a cutover: everything on AWS, the rollback moves it all to IDC. */
export function rollbackPreview(extra: StepSpec[] = [], diagnostics: object[] = []) {
  const steps: StepSpec[] = [
    { op: "update", types: T.stack, name: "rollback-rollback", old: { custom: false, outputs: { nginxUpstream: upstream(`${RDS_HOST}:3306`), activeTarget: "aws" } }, new: { custom: false, outputs: { nginxUpstream: upstream("10.20.0.15:3306"), activeTarget: "idc" } }, diffReasons: ["nginxUpstream"] },
    { op: "same", types: T.runbook, name: "rollback", old: { custom: false }, new: { custom: false } },
    run("rollback-preflight", "node dist/scripts/step.js preflight --timeline .rollback/run-42/timeline.jsonl -- node dist/scripts/preflight.js --inputs-json '{...}'"),
    run("rollback-maintenance-on", "node dist/scripts/step.js maintenance-on --timeline .rollback/run-42/timeline.jsonl -- node dist/scripts/maintenance.js on --flag /var/www/maintenance/shop.flag --json"),
    { op: "replace", types: T.upstreamCommand, name: "rollback-nginx-upstream-switch", old: { inputs: { create: "node dist/scripts/switch-upstream.js --servers shop-prod:3306" } }, new: { inputs: { create: "node dist/scripts/switch-upstream.js --file /etc/nginx/stream.d/shop-db-upstream.conf --name shop_db --servers 10.20.0.15:3306 --kind stream --json" } }, diffReasons: ["create", "triggers"], replaceReasons: ["triggers"] },
    { op: "update", types: T.secretVersion, name: "rollback-connection-secret-version", old: { inputs: { secretId: "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:shop/db-connection-AbCdEf", secretString: "[secret]", versionStages: ["AWSCURRENT"] }, outputs: { versionId: "v-aws" } }, new: { inputs: { secretId: "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:shop/db-connection-AbCdEf", secretString: "[secret]", versionStages: ["AWSCURRENT"] } }, diffReasons: ["secretString"] },
    { op: "update", types: T.record, name: "rollback-dns-weights-idc", old: weighted("idc", 0), new: weighted("idc", 100), diffReasons: ["weightedRoutingPolicies"] },
    { op: "update", types: T.record, name: "rollback-dns-weights-aws", old: weighted("aws", 100), new: weighted("aws", 0), diffReasons: ["weightedRoutingPolicies"] },
    { op: "update", types: T.power, name: "rollback-rds-power", old: { inputs: { instanceId: "shop-prod", desiredState: "available" }, outputs: { status: "available" } }, new: { inputs: { instanceId: "shop-prod", region: "ap-northeast-2", desiredState: "stopped", finalSnapshot: true } }, diffReasons: ["desiredState"] },
    { op: "update", types: T.guard, name: "rollback-rds-guard", old: { inputs: { state: "DISABLED", scheduleName: "keep-shop-prod-stopped" }, outputs: { observed: "DISABLED" } }, new: { inputs: { state: "ENABLED", scheduleName: "keep-shop-prod-stopped" } }, diffReasons: ["state"] },
    ...extra,
  ];
  const changeSummary: Record<string, number> = {};
  for (const s of steps) changeSummary[s.op] = (changeSummary[s.op] ?? 0) + 1;
  return { config: { "rollback:target": "idc", "rollback:idc": "[secret]" }, steps: steps.map(step), diagnostics, duration: 4200000000, changeSummary };
}
