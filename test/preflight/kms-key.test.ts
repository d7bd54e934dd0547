import { afterEach, describe, expect, it, vi } from "vitest";
import { mockStack, outputsOf, stackFile, unwrapSecrets } from "../pulumi/harness";

/**
 * What preflight's KMS check protects: the SSM parameter is written with the configured key
 * (connectionSecret.kmsKeyId), and without one the stack passes no keyId, which is the
 * alias/aws/ssm preflight compares the parameter's key with.
 */
describe("the SSM connection parameter's KMS key", () => {
  afterEach(() => {
    delete process.env.ROLLBACK_RUN_ID;
  });
  const parameterInputs = async (kmsKeyId?: string) => {
    const config = stackFile("rollback");
    config["rollback:connectionSecret"] = { ...config["rollback:connectionSecret"], store: "ssm", id: "/shop/db-connection", ...(kmsKeyId ? { kmsKeyId } : {}) };
    const recorder = await mockStack("rollback", config);
    process.env.ROLLBACK_RUN_ID = "run-1";
    vi.resetModules();
    await outputsOf(await import("../../index.js"));
    await recorder.settled();
    return unwrapSecrets(recorder.ofType("aws:ssm/parameter:Parameter")[0].inputs);
  };

  it("is the configured key when one is set", async () => {
    expect(await parameterInputs("alias/shop-db")).toMatchObject({ name: "/shop/db-connection", type: "SecureString", overwrite: true, keyId: "alias/shop-db" });
  });

  it("is not passed when none is set (SSM's default key, what preflight compares with)", async () => {
    expect((await parameterInputs()).keyId).toBeUndefined();
  });
});
