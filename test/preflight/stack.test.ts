import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseInputs, preflightInputs } from "../../lib/preflight";
import { readStackConfig } from "../../lib/preflight/stack-file";

/**
 * `preflight --stack` reads the stack file and validates it with the program's own parseConfig.
 * The shipped Pulumi.rollback.yaml, with its passwords set as `pulumi config set --secret` leaves
 * them (encrypted: {secure: v1:...}), is the base every case edits.
 */
describe("preflight: the stack file", () => {
  let dir: string;
  let base: { config: Record<string, any> };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "preflight-stack-"));
    base = parse(await readFile(join(__dirname, "..", "..", "Pulumi.rollback.yaml"), "utf8"));
    base.config["rollback:idc"].password = { secure: "v1:AAAAbase64ciphertext==" };
    base.config["rollback:aws"].password = { secure: "v1:AAAAbase64ciphertext==" };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const stack = async (edit: (c: Record<string, any>) => void = () => undefined) => {
    const doc = structuredClone(base);
    edit(doc.config);
    await writeFile(join(dir, "Pulumi.test.yaml"), stringify(doc));
    return readStackConfig(dir, "test");
  };

  it("gives the inputs the runbook would pass, without a secret", async () => {
    const i = preflightInputs(await stack());
    expect(i.endpoints.idc).toEqual({ host: "10.20.0.15", port: 3306, database: "shop", user: "rollback" });
    expect(i.region).toBe("ap-northeast-2");
    expect(i.rds).toEqual({ instanceId: "shop-prod", desiredState: "stopped" });
    expect(i.nginx.testCommand).toBe("sudo nginx -t");
    expect(JSON.stringify(i)).not.toMatch(/secure|v1:|\[secret\]/);
    // What the runbook passes as --inputs-json parses back to the same object.
    expect(parseInputs(JSON.stringify(i))).toEqual(i);
  });

  it("refuses, naming the key, an nginx test command switch-upstream would refuse (it validated before)", async () => {
    await expect(stack((c) => (c["rollback:nginx"].testCommand = "sudo nginx -t | logger"))).rejects.toThrow(
      /^CONFIG_INVALID: rollback:nginx\.testCommand: unquoted "\|" at position 14: commands run without a shell/,
    );
    await expect(stack((c) => (c["rollback:nginx"].reloadCommand = "sudo nginx -s reload; true"))).rejects.toThrow(/^CONFIG_INVALID: rollback:nginx\.reloadCommand: unquoted ";"/);
    await expect(stack((c) => (c["rollback:nginx"].testCommand = "sudo nginx -tq"))).rejects.toThrow(/^CONFIG_INVALID: rollback:nginx\.testCommand: "sudo nginx -tq" has no -t to turn into -T/);
    const withDump = await stack((c) => Object.assign(c["rollback:nginx"], { testCommand: "sudo nginx -tq", dumpCommand: "sudo nginx -T" }));
    expect(withDump.nginx.dumpCommand).toBe("sudo nginx -T");
  });

  it("refuses what pulumi up refuses: a password not set, a kmsKeyId for Secrets Manager", async () => {
    await expect(stack((c) => delete c["rollback:aws"].password)).rejects.toThrow(/^CONFIG_INVALID: rollback:aws\.password: is required/);
    await expect(stack((c) => (c["rollback:connectionSecret"].kmsKeyId = "alias/shop"))).rejects.toThrow(/^CONFIG_INVALID: rollback:connectionSecret\.kmsKeyId: is for store ssm/);
    const ssm = await stack((c) => Object.assign(c["rollback:connectionSecret"], { store: "ssm", id: "/shop/db", kmsKeyId: "alias/shop" }));
    expect(preflightInputs(ssm).connectionSecret).toEqual({ store: "ssm", id: "/shop/db", kmsKeyId: "alias/shop" });
  });

  it("names the stack file it cannot read", async () => {
    await expect(readStackConfig(dir, "nope")).rejects.toThrow(/^FILE_UNREADABLE: .*Pulumi\.nope\.yaml: /);
    await expect(readStackConfig(dir, "../x")).rejects.toThrow(/^ARGS_INVALID: --stack/);
  });
});
