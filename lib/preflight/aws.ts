import type { ResourceRecordSet, Route53Client } from "@aws-sdk/client-route-53";
import { planPower, refuseUnsupported } from "../../components/rdsPower/powerProvider";
import { RollbackError, awsErrorName, isRollbackError } from "../errors";
import { type Findings, awsUnavailable } from "./check";
import type { PreflightInputs } from "./inputs";

/**
 * The AWS objects the switch writes or drives, read (never written) with the runner's
 * credentials: the same account and region the stack's steps use. The SDK clients are loaded
 * by the checks that use them: together they take seconds to load, which a run of the other
 * checks (the drill's) need not pay.
 */

/** SSM's default key for a SecureString written without KeyId (SSM API reference, PutParameter: KeyId). */
const SSM_DEFAULT_KEY = "alias/aws/ssm";

/** The region a Secrets Manager ARN names; the stack's region for a plain secret name. */
function secretRegion(id: string, fallback: string): string {
  return /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(id)?.[1] ?? fallback;
}

/**
 * The app's connection secret exists and this runner can read it. The value is fetched to prove
 * read access (and KMS decrypt) and dropped unread: it is never printed or kept.
 * Secrets Manager encrypts a new version with the secret's own key, so the key is kept by
 * construction. An SSM SecureString is rewritten whole: written without a KeyId it moves to the
 * account's default key, and apps allowed only the old key can no longer decrypt it, so the
 * configured kmsKeyId must be the key the parameter has today.
 */
export async function checkConnectionSecret(s: PreflightInputs["connectionSecret"], region: string, f: Findings): Promise<void> {
  const subject = `rollback:connectionSecret.id ${s.id}`;
  if (s.store === "secretsmanager") {
    const { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } = require("@aws-sdk/client-secrets-manager") as typeof import("@aws-sdk/client-secrets-manager");
    const client = new SecretsManagerClient({ region: secretRegion(s.id, region) });
    const described = await client.send(new DescribeSecretCommand({ SecretId: s.id })).catch((e: unknown) => {
      throw awsErrorName(e) === "ResourceNotFoundException"
        ? new RollbackError("SECRET_NOT_FOUND", subject, "no such secret in this account and region", "the stack references an existing secret: create it, or fix the id")
        : awsUnavailable(subject, "DescribeSecret", e);
    });
    if (described.DeletedDate) {
      throw new RollbackError("SECRET_NOT_FOUND", subject, `is scheduled for deletion (since ${described.DeletedDate.toISOString()})`, "restore it: aws secretsmanager restore-secret");
    }
    await client.send(new GetSecretValueCommand({ SecretId: s.id, VersionStage: "AWSCURRENT" })).catch((e: unknown) => {
      throw new RollbackError("SECRET_UNREADABLE", subject, `GetSecretValue failed: ${awsErrorName(e)}`, "the runner needs secretsmanager:GetSecretValue and kms:Decrypt on the secret's key");
    });
    f.evidence.push(`secret ${described.ARN ?? s.id} is readable; a new version keeps its KMS key ${described.KmsKeyId ?? "aws/secretsmanager"}`);
    return;
  }
  const { DescribeParametersCommand, GetParameterCommand, SSMClient } = require("@aws-sdk/client-ssm") as typeof import("@aws-sdk/client-ssm");
  const client = new SSMClient({ region });
  const got = await client.send(new GetParameterCommand({ Name: s.id, WithDecryption: true })).catch((e: unknown) => {
    const name = awsErrorName(e);
    if (name === "ParameterNotFound") throw new RollbackError("SECRET_NOT_FOUND", subject, "no such SSM parameter in this account and region", "the stack references an existing parameter: create it, or fix the id");
    if (name === "AccessDeniedException" || name === "InvalidKeyId") throw new RollbackError("SECRET_UNREADABLE", subject, `GetParameter failed: ${name}`, "the runner needs ssm:GetParameter and kms:Decrypt on the parameter's key");
    throw awsUnavailable(subject, "GetParameter", e);
  });
  if (got.Parameter?.Type !== "SecureString") {
    throw new RollbackError("SECRET_INVALID", subject, `is a ${got.Parameter?.Type ?? "parameter of unknown type"}; the stack writes a SecureString`, "make it a SecureString first (it holds a password)");
  }
  const meta = await client.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [s.id] }] })).catch((e: unknown) => {
    throw awsUnavailable(subject, "DescribeParameters", e);
  });
  const key = meta.Parameters?.[0]?.KeyId ?? SSM_DEFAULT_KEY;
  const written = s.kmsKeyId ?? SSM_DEFAULT_KEY;
  if (key !== written) {
    throw new RollbackError(
      "SECRET_KMS_KEY",
      subject,
      `is encrypted with KMS key ${key}, but the stack would rewrite it with ${written}${s.kmsKeyId ? "" : " (no kmsKeyId configured: SSM's default key)"}`,
      `pulumi config set --path connectionSecret.kmsKeyId '${key}'`,
    );
  }
  f.evidence.push(`SSM parameter ${s.id} is a readable SecureString; the stack rewrites it with its current key ${key}`);
}

/** Route53 returns names fully qualified, lower-case, with `*` and other specials as \\ddd octal escapes. */
function recordName(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))).replace(/\.$/, "").toLowerCase();
}

/** The record sets at `name` (every type), following Route53's pagination. */
async function recordsAt(client: Route53Client, zoneId: string, name: string): Promise<ResourceRecordSet[]> {
  const { ListResourceRecordSetsCommand } = require("@aws-sdk/client-route-53") as typeof import("@aws-sdk/client-route-53");
  const want = recordName(name);
  const out: ResourceRecordSet[] = [];
  let start: { name?: string; type?: string; id?: string } = { name };
  for (;;) {
    const page = await client.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: start.name, StartRecordType: start.type as never, StartRecordIdentifier: start.id }),
    );
    const sets = page.ResourceRecordSets ?? [];
    // Listed in name order from StartRecordName: the first other name ends this name's records.
    for (const r of sets) {
      if (recordName(r.Name ?? "") !== want) return out;
      out.push(r);
    }
    if (!page.IsTruncated) return out;
    start = { name: page.NextRecordName, type: page.NextRecordType, id: page.NextRecordIdentifier };
  }
}

/**
 * The weighted pair can be written at the name: Route53 refuses a weighted record next to a
 * non-weighted one of the same type ("a conflicting RRSet ... already exists"), next to other
 * routing policies, and any record next to a CNAME (RFC 1034 §3.6.2). A third weighted record
 * is no error for Route53 but keeps its share of traffic after the "flip".
 */
export async function checkRoute53(r: PreflightInputs["route53"], f: Findings): Promise<void> {
  const subject = `rollback:route53 ${r.name} ${r.type}`;
  const { Route53Client: Client } = require("@aws-sdk/client-route-53") as typeof import("@aws-sdk/client-route-53");
  const client = new Client({ region: "us-east-1" }); // Route53 is global; the SDK still wants a region.
  const sets = await recordsAt(client, r.zoneId, r.name).catch((e: unknown) => {
    throw awsErrorName(e) === "NoSuchHostedZone"
      ? new RollbackError("ROUTE53_ZONE_NOT_FOUND", `rollback:route53.zoneId ${r.zoneId}`, "no such hosted zone", "the stack references an existing zone: fix the id")
      : awsUnavailable(subject, "ListResourceRecordSets", e);
  });
  const conflict = (problem: string, hint: string) => f.problems.push(new RollbackError("ROUTE53_CONFLICT", subject, problem, hint));
  for (const s of sets) {
    const what = `${s.Type} record${s.SetIdentifier ? ` "${s.SetIdentifier}"` : ""}`;
    if (s.Type !== r.type) {
      if (s.Type === "CNAME" || r.type === "CNAME") conflict(`a ${what} exists at the name; a CNAME cannot share its name with another record`, "remove it or use another name");
      continue;
    }
    if (s.SetIdentifier === undefined) conflict(`a simple (non-weighted) ${what} exists; Route53 refuses a weighted set next to it`, "delete it when the weighted pair replaces it (the switch must not do it for you)");
    else if (s.Weight === undefined) conflict(`the ${what} uses another routing policy; a weighted set must be the only policy at the name`, "remove it or use another name");
    else if (!r.setIdentifiers.includes(s.SetIdentifier)) conflict(`another weighted ${what} (weight ${s.Weight}) keeps its share of traffic after the switch`, "delete it, or set its weight to 0 yourself");
  }
  const ours = sets.filter((s) => s.Type === r.type && s.SetIdentifier !== undefined && r.setIdentifiers.includes(s.SetIdentifier));
  f.evidence.push(`${r.name} ${r.type}: ${sets.length} record set(s) at the name; the pair's records ${ours.length ? ours.map((s) => `"${s.SetIdentifier}" weight ${s.Weight}`).join(", ") : "not created yet (the first up creates them)"}`);
}

/** What the RDS check saw, for the databases check (the cutover's AWS database may be stopped). */
export interface RdsSeen {
  status?: string;
}

/** The instance exists and rds-power can bring it to the desired state from where it is (its own planPower and refusals). */
export async function checkRds(r: PreflightInputs["rds"], region: string, f: Findings, seen: RdsSeen = {}): Promise<void> {
  const subject = `rollback:rds.instanceId ${r.instanceId}`;
  const { DescribeDBInstancesCommand, RDSClient } = require("@aws-sdk/client-rds") as typeof import("@aws-sdk/client-rds");
  const out = await new RDSClient({ region }).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: r.instanceId })).catch((e: unknown) => {
    throw awsErrorName(e) === "DBInstanceNotFoundFault"
      ? new RollbackError("RDS_NOT_FOUND", subject, `no such DB instance in ${region}`, "check rds.instanceId and rds.region")
      : awsUnavailable(subject, "DescribeDBInstances", e);
  });
  const instance = out.DBInstances?.[0];
  if (!instance) throw new RollbackError("RDS_NOT_FOUND", subject, "DescribeDBInstances returned no instance");
  const status = instance.DBInstanceStatus ?? "unknown";
  seen.status = status;
  try {
    refuseUnsupported(instance, r.desiredState, r.instanceId);
    const plan = planPower(status, r.desiredState, r.instanceId);
    f.evidence.push(`${r.instanceId} (${instance.Engine} ${instance.EngineVersion}) is ${status}; rds-power will ${plan.length ? plan.join(", then ") : "leave it as it is"} to reach ${r.desiredState}`);
  } catch (e) {
    if (!isRollbackError(e)) throw e;
    throw new RollbackError(e.code, subject, e.problem, e.hint);
  }
}
