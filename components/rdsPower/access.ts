import type { RDSClientConfig } from "@aws-sdk/client-rds";
import type { AwsAccess } from "../../lib/config/aws-access";

export type { AwsAccess } from "../../lib/config/aws-access";

/**
 * How the dynamic providers reach AWS: the same account and region as the rest of the stack.
 * The `aws:` provider config (region, profile, assumeRoles) configures @pulumi/aws's resources
 * only; an SDK client built in a dynamic provider sees none of it and would use the runner's
 * default credentials and region (another account, or no access at all). So the program reads
 * those keys and passes them to the providers as inputs.
 *
 * The SDK is `require()`d inside the function (pulumi #13960: a top-level value import does not
 * serialize); the type import is erased.
 */

/** The SDK client config for `region` with the stack's profile and assumed roles. */
export async function clientConfig(region: string, access: AwsAccess): Promise<Pick<RDSClientConfig, "region" | "profile" | "credentials">> {
  const base = { region, ...(access.profile ? { profile: access.profile } : {}) };
  let credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } | undefined;
  for (const role of access.assumeRoles ?? []) {
    const { STSClient, AssumeRoleCommand } = require("@aws-sdk/client-sts") as typeof import("@aws-sdk/client-sts");
    const sts = new STSClient(credentials ? { region, credentials } : base);
    const { Credentials: c } = await sts.send(new AssumeRoleCommand({ RoleArn: role.roleArn, RoleSessionName: role.sessionName ?? "idc-rollback", ExternalId: role.externalId }));
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${role.roleArn} returned no credentials`);
    credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  }
  return credentials ? { region, credentials } : base;
}

/** Input keys that changed; `access` is an object, compared by value. */
export function changedKeys<T extends object>(keys: readonly (keyof T)[], olds: T, news: T): (keyof T)[] {
  return keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}
