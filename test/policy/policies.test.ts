import type { PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { afterEach, describe, expect, it, vi } from "vitest";
import { POLICIES, longLivedObjectsProtected, noSecretInCommandLines, remoteCommandsWithoutEnvironment, secretShapes } from "../../policy/policies";
import { type StackName, SECRETS, mockStack, outputsOf, stackFile, unwrapSecrets } from "../pulumi/harness";

/**
 * The policies are called directly (new PolicyPack() would start the analyzer server and take
 * the process over). Args are what @pulumi/policy hands validateResource: type, props (secrets
 * already unwrapped), urn, name, opts.
 */
const OPTS: PolicyResourceOptions = { protect: false, ignoreChanges: [], aliases: [], additionalSecretOutputs: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } };

function args(type: string, name: string, props: Record<string, unknown>, opts: Partial<PolicyResourceOptions> = {}): ResourceValidationArgs {
  const unused = () => {
    throw new Error("not used by these policies");
  };
  return { type, name, props, urn: `urn:pulumi:rollback::rollback::${type}::${name}`, opts: { ...OPTS, ...opts }, stackTags: new Map(), isType: unused, asType: unused, getConfig: unused, notApplicable: unused } as ResourceValidationArgs;
}

async function violations(p: ResourceValidationPolicy, a: ResourceValidationArgs): Promise<string[]> {
  const found: string[] = [];
  const validate = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource!];
  for (const v of validate) await v(a, (message) => found.push(message));
  return found;
}

describe("policy: long-lived objects", () => {
  it("refuses an unprotected RDS instance, hosted zone, secret or IDC container; accepts one adopted with protect", async () => {
    for (const type of ["aws:rds/instance:Instance", "aws:route53/zone:Zone", "aws:secretsmanager/secret:Secret", "docker:index/container:Container", "docker:index/volume:Volume"]) {
      expect(await violations(longLivedObjectsProtected, args(type, "prod", {}))).toEqual([
        `${type} "prod" is declared without protect: a replace or a destroy of this stack would delete it. Reference it by id, or adopt it with the import option and protect: true.`,
      ]);
    }
    expect(await violations(longLivedObjectsProtected, args("docker:index/container:Container", "shop-mysql", {}, { protect: true }))).toEqual([]);
    expect(await violations(longLivedObjectsProtected, args("aws:route53/record:Record", "rollback-dns-weights-idc", {}))).toEqual([]);
  });
});

describe("policy: remote commands", () => {
  it("refuses environment on an SSH command (sshd refuses Setenv), allows it on a local one", async () => {
    const env = { environment: { ROLLBACK_WEBHOOK_URL: "https://x", ROLLBACK_CONTACTS: "{}" } };
    expect(await violations(remoteCommandsWithoutEnvironment, args("command:remote:Command", "rollback-maintenance-on", { create: "maintenance on", ...env }))).toEqual([
      'remote command "rollback-maintenance-on" sets environment ROLLBACK_WEBHOOK_URL, ROLLBACK_CONTACTS: sshd accepts only what AcceptEnv lists (default: LANG, LC_*). Pass values in a file on the host or on stdin.',
    ]);
    expect(await violations(remoteCommandsWithoutEnvironment, args("command:remote:Command", "x", { create: "x", environment: {} }))).toEqual([]);
    expect(await violations(remoteCommandsWithoutEnvironment, args("command:local:Command", "x", { create: "x", ...env }))).toEqual([]);
  });
});

describe("policy: secrets in command lines", () => {
  it("names the shape of a secret in create/update/delete, never the secret", async () => {
    const v = await violations(noSecretInCommandLines, args("command:local:Command", "rollback-sync", { create: "node sync.js --source mysql://rollback:Pa55w0rd@10.0.0.1:3306/shop", delete: "mysql --password=hunter2 -e 'DROP USER x'" }));
    expect(v).toEqual([
      'command "rollback-sync" create holds a URL with a password (scheme://user:password@host): move it to environment or stdin.',
      'command "rollback-sync" delete holds a --password/--pass flag with a value: move it to environment or stdin.',
    ]);
    expect(v.join()).not.toMatch(/Pa55w0rd|hunter2/);
  });

  it("knows the other shapes and leaves ordinary command lines alone", () => {
    expect(secretShapes("MYSQL_PWD=x mysql")).toEqual(["a password variable assignment (PASSWORD=, MYSQL_PWD=, PGPASSWORD=)"]);
    expect(secretShapes("mysql -e \"ALTER USER app IDENTIFIED BY 'x'\"")).toEqual(["SQL IDENTIFIED BY"]);
    expect(secretShapes("curl -H 'Authorization: token' https://hooks.slack.com/services/T0/B0/abc")).toEqual(["an Authorization header or bearer token", "a webhook URL with its token"]);
    expect(secretShapes("sudo nginx -p /etc/nginx -t && node --import tsx scripts/step.ts drain --timeline .rollback/r/timeline.jsonl -- node scripts/drain.ts --timeout 120 --json")).toEqual([]);
    expect(secretShapes("mysql://rollback@10.0.0.1:3306/shop")).toEqual([]);
  });
});

/** The program itself, under mocks, for both stacks and with nginx over SSH: no policy may fire. */
describe("policy: the rollback program complies", () => {
  afterEach(() => {
    delete process.env.ROLLBACK_RUN_ID;
  });
  const ssh = { mode: "ssh", host: "nginx-1", user: "deploy", privateKey: "-----BEGIN KEY-----", projectDir: "/opt/idc-rollback" };
  const cases: [StackName, boolean][] = [["rollback", false], ["cutover", false], ["rollback", true]];

  it.each(cases)("stack %s (nginx over SSH: %s)", async (stack, overSsh) => {
    const config = stackFile(stack);
    if (overSsh) config["rollback:nginx"].connection = ssh;
    const recorder = await mockStack(stack, config);
    process.env.ROLLBACK_RUN_ID = "run-1";
    vi.resetModules();
    await outputsOf(await import("../../index.js"));
    await recorder.settled();
    const found: string[] = [];
    for (const r of recorder.resources) {
      for (const p of POLICIES) found.push(...(await violations(p, args(r.type, r.name, unwrapSecrets(r.inputs)))).map((m) => `${p.name}: ${m}`));
    }
    expect(recorder.resources.length).toBeGreaterThan(10);
    if (overSsh) expect(recorder.resources.some((r) => r.type === "command:remote:Command")).toBe(true);
    expect(found).toEqual([]);
    // The secrets the program holds are real values here, so the text rule would have seen them.
    expect(JSON.stringify(recorder.resources.map((r) => unwrapSecrets(r.inputs)))).toContain(encodeURIComponent(SECRETS["aws.password"]));
  }, 60_000);
});
