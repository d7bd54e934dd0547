import { DBInstanceNotFoundFault, DescribeDBInstancesCommand, RDSClient } from "@aws-sdk/client-rds";
import { ListResourceRecordSetsCommand, NoSuchHostedZone, Route53Client } from "@aws-sdk/client-route-53";
import { DescribeSecretCommand, GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DescribeParametersCommand, GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { type PreflightInputs, runPreflight } from "../../lib/preflight";
import { inputs } from "./fixture";

/**
 * The AWS checks against aws-sdk-client-mock: no AWS account here. The mocked answers are
 * shaped as the APIs document them (Route53 names fully qualified with \ddd escapes, SSM KeyId
 * as DescribeParameters returns it, RDS statuses as DescribeDBInstances spells them).
 */
const secrets = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const route53 = mockClient(Route53Client);
const rds = mockClient(RDSClient);
afterEach(() => [secrets, ssm, route53, rds].forEach((m) => m.reset()));

const meta = { $metadata: {} };
const run = async (id: "connection-secret" | "route53" | "rds", over: Partial<PreflightInputs> = {}) => (await runPreflight(inputs(over), { env: {}, only: [id] })).checks[0];
const codes = (c: { problems: readonly { code: string }[] }) => c.problems.map((p) => p.code);

describe("preflight: connection secret", () => {
  const ARN = inputs().connectionSecret.id;
  it("passes a readable Secrets Manager secret and never prints its value", async () => {
    secrets.on(DescribeSecretCommand).resolves({ ARN, KmsKeyId: "arn:aws:kms:ap-northeast-2:123456789012:key/k-1" });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"password":"pw-in-secret"}' });
    const c = await run("connection-secret");
    expect(c.status).toBe("pass");
    expect(c.evidence[0]).toBe(`secret ${ARN} is readable; a new version keeps its KMS key arn:aws:kms:ap-northeast-2:123456789012:key/k-1`);
    expect(JSON.stringify(c)).not.toContain("pw-in-secret");
    expect(secrets.commandCalls(GetSecretValueCommand)[0].args[0].input).toEqual({ SecretId: ARN, VersionStage: "AWSCURRENT" });
  });

  it("refuses a missing secret, one scheduled for deletion, one this runner cannot read", async () => {
    secrets.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", ...meta }));
    expect(codes(await run("connection-secret"))).toEqual(["SECRET_NOT_FOUND"]);
    secrets.on(DescribeSecretCommand).resolves({ ARN, DeletedDate: new Date("2026-11-30T00:00:00Z") });
    expect((await run("connection-secret")).problems[0].problem).toBe("is scheduled for deletion (since 2026-11-30T00:00:00.000Z)");
    secrets.on(DescribeSecretCommand).resolves({ ARN });
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDeniedException" }));
    expect(codes(await run("connection-secret"))).toEqual(["SECRET_UNREADABLE"]);
  });

  const param = (kmsKeyId?: string): Partial<PreflightInputs> => ({ connectionSecret: { store: "ssm", id: "/shop/db", ...(kmsKeyId ? { kmsKeyId } : {}) } });
  const ssmAnswers = (type: string, keyId: string) => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: "/shop/db", Type: type as never, Value: "pw-in-param" } });
    ssm.on(DescribeParametersCommand).resolves({ Parameters: [{ Name: "/shop/db", Type: type as never, KeyId: keyId }] });
  };

  it("refuses an SSM rewrite that would move the parameter off its customer KMS key", async () => {
    ssmAnswers("SecureString", "alias/shop-db");
    const c = await run("connection-secret", param());
    expect(c.problems.map((p) => p.message)).toEqual([
      "SECRET_KMS_KEY: rollback:connectionSecret.id /shop/db: is encrypted with KMS key alias/shop-db, but the stack would rewrite it with alias/aws/ssm (no kmsKeyId configured: SSM's default key) (pulumi config set --path connectionSecret.kmsKeyId 'alias/shop-db')",
    ]);
    expect((await run("connection-secret", param("alias/shop-db"))).status).toBe("pass");
    expect(JSON.stringify(c)).not.toContain("pw-in-param");
  });

  it("passes the default key when none is configured; refuses a String parameter and a missing one", async () => {
    ssmAnswers("SecureString", "alias/aws/ssm");
    expect((await run("connection-secret", param())).status).toBe("pass");
    ssmAnswers("String", "alias/aws/ssm");
    expect(codes(await run("connection-secret", param()))).toEqual(["SECRET_INVALID"]);
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "not found", ...meta }));
    expect(codes(await run("connection-secret", param()))).toEqual(["SECRET_NOT_FOUND"]);
  });
});

describe("preflight: Route53", () => {
  const weighted = (id: string, weight: number) => ({ Name: "db.shop.example.com.", Type: "CNAME" as const, SetIdentifier: id, Weight: weight, TTL: 60, ResourceRecords: [{ Value: `${id}.example.com` }] });
  const next = { Name: "dc.shop.example.com.", Type: "A" as const, TTL: 60 };

  it("passes when only the pair (or nothing yet) is at the name, reading past other names' records", async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [weighted("idc", 0), weighted("aws", 100), next], IsTruncated: false, MaxItems: 300 });
    const c = await run("route53");
    expect(c.status).toBe("pass");
    expect(c.evidence[0]).toBe('db.shop.example.com CNAME: 2 record set(s) at the name; the pair\'s records "idc" weight 0, "aws" weight 100');
    expect(route53.commandCalls(ListResourceRecordSetsCommand)[0].args[0].input).toMatchObject({ HostedZoneId: "Z0123456789ABC", StartRecordName: "db.shop.example.com" });
  });

  it("refuses a simple record of the type, another routing policy, a third weighted record, across pages", async () => {
    route53
      .on(ListResourceRecordSetsCommand)
      .resolvesOnce({ ResourceRecordSets: [{ Name: "DB.shop.example.com.", Type: "CNAME", TTL: 300 }], IsTruncated: true, NextRecordName: "db.shop.example.com.", NextRecordType: "CNAME", NextRecordIdentifier: "a", MaxItems: 1 })
      .resolvesOnce({ ResourceRecordSets: [{ Name: "db.shop.example.com.", Type: "CNAME", SetIdentifier: "primary", Failover: "PRIMARY" }, weighted("old", 10), next], IsTruncated: false, MaxItems: 300 });
    const c = await run("route53");
    expect(c.problems.map((p) => p.problem)).toEqual([
      "a simple (non-weighted) CNAME record exists; Route53 refuses a weighted set next to it",
      'the CNAME record "primary" uses another routing policy; a weighted set must be the only policy at the name',
      'another weighted CNAME record "old" (weight 10) keeps its share of traffic after the switch',
    ]);
    expect(route53.commandCalls(ListResourceRecordSetsCommand)[1].args[0].input).toMatchObject({ StartRecordName: "db.shop.example.com.", StartRecordType: "CNAME", StartRecordIdentifier: "a" });
  });

  it("refuses an A record next to the CNAME pair, decoding Route53's escapes; a missing zone", async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: "\\052.shop.example.com.", Type: "A" }], IsTruncated: false, MaxItems: 300 });
    expect((await run("route53", { route53: { ...inputs().route53, name: "*.shop.example.com" } })).problems[0].problem).toBe(
      "a A record exists at the name; a CNAME cannot share its name with another record",
    );
    route53.on(ListResourceRecordSetsCommand).rejects(new NoSuchHostedZone({ message: "No hosted zone found with ID: Z0123456789ABC", ...meta }));
    expect(codes(await run("route53"))).toEqual(["ROUTE53_ZONE_NOT_FOUND"]);
  });
});

describe("preflight: RDS", () => {
  const instance = (status: string, extra: object = {}) => ({ DBInstances: [{ DBInstanceIdentifier: "shop-prod", DBInstanceStatus: status, Engine: "mysql", EngineVersion: "8.4.3", ...extra }] });

  it("passes an available instance the rollback will stop, and a stopped one the cutover will start", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance("available"));
    expect((await run("rds")).evidence[0]).toBe("shop-prod (mysql 8.4.3) is available; rds-power will stop, then wait-stopped to reach stopped");
    rds.on(DescribeDBInstancesCommand).resolves(instance("stopped"));
    expect((await run("rds", { rds: { instanceId: "shop-prod", desiredState: "available" } })).status).toBe("pass");
  });

  it("refuses what rds-power refuses: a status it cannot leave, read replicas, Aurora, a missing instance", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance("storage-full"));
    expect((await run("rds")).problems[0].message).toMatch(/^RDS_INVALID_STATE: rollback:rds.instanceId shop-prod: is "storage-full"/);
    rds.on(DescribeDBInstancesCommand).resolves(instance("available", { ReadReplicaDBInstanceIdentifiers: ["shop-replica"] }));
    expect(codes(await run("rds"))).toEqual(["RDS_HAS_REPLICAS"]);
    rds.on(DescribeDBInstancesCommand).resolves(instance("available", { Engine: "aurora-mysql", DBClusterIdentifier: "shop" }));
    expect(codes(await run("rds"))).toEqual(["RDS_AURORA"]);
    rds.on(DescribeDBInstancesCommand).rejects(new DBInstanceNotFoundFault({ message: "DBInstance shop-prod not found.", ...meta }));
    expect((await run("rds")).problems[0].problem).toBe("no such DB instance in ap-northeast-2");
  });

  it("on the cutover, does not ask a stopped RDS to answer: rds-power starts it first", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instance("stopped"));
    const r = await runPreflight(inputs({ target: "aws", rds: { instanceId: "shop-prod", desiredState: "available" } }), { env: {}, only: ["databases", "rds"] });
    const [databases, power] = r.checks;
    expect(power.evidence[0]).toBe("shop-prod (mysql 8.4.3) is stopped; rds-power will start, then wait-available to reach available");
    // IDC is still checked (here: its URL is missing); AWS is said to be unchecked, not passed.
    expect(databases.problems.map((p) => `${p.code} ${p.subject}`)).toEqual(["DSN_MISSING IDC_DATABASE_URL"]);
    expect(databases.reason).toBe("aws: RDS shop-prod is stopped, so the AWS database cannot answer before rds-power starts it; its credentials, TLS and identity are not checked");
  });
});
