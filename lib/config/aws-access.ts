import * as pulumi from "@pulumi/pulumi";
import { RollbackError } from "../errors";

/** One hop of `aws:assumeRoles`: each role is assumed with the previous one's credentials. */
export interface AssumeRole {
  readonly roleArn: string;
  readonly sessionName?: string;
  readonly externalId?: string;
}

/** The `aws:` provider settings besides the region that decide which account the stack acts in. */
export interface AwsAccess {
  /** `aws:profile`: a named profile of the shared config/credentials files. */
  readonly profile?: string;
  /** `aws:assumeRoles` (pulumi-aws v7), or the older single `aws:assumeRole`. */
  readonly assumeRoles?: readonly AssumeRole[];
}

/**
 * Reads `aws:profile` and `aws:assumeRoles` (or `aws:assumeRole`) so the dynamic providers,
 * whose SDK clients see no provider config, act in the same account as @pulumi/aws's resources
 * (components/rdsPower/access.ts). The region is `rds.region`, which defaults to `aws:region`.
 */
export function loadAwsAccess(aws = new pulumi.Config("aws")): AwsAccess {
  const profile = aws.get("profile");
  const listed = aws.getObject<unknown[]>("assumeRoles") ?? (aws.getObject<unknown>("assumeRole") ? [aws.getObject<unknown>("assumeRole")] : []);
  const assumeRoles = listed.map((r, i) => assumeRole(r, `aws:assumeRoles[${i}]`));
  return { ...(profile ? { profile } : {}), ...(assumeRoles.length ? { assumeRoles } : {}) };
}

function assumeRole(value: unknown, subject: string): AssumeRole {
  const r = (value ?? {}) as Record<string, unknown>;
  const text = (k: string) => (typeof r[k] === "string" && r[k] !== "" ? (r[k] as string) : undefined);
  const roleArn = text("roleArn");
  if (!roleArn?.startsWith("arn:")) throw new RollbackError("CONFIG_INVALID", `${subject}.roleArn`, "must be an IAM role ARN", "the same value the aws provider uses");
  const sessionName = text("sessionName");
  const externalId = text("externalId");
  return { roleArn, ...(sessionName ? { sessionName } : {}), ...(externalId ? { externalId } : {}) };
}
