import { describe, expect, it } from "vitest";
import { databaseUrl } from "../../components/runbook/plan";
import { loadConfig } from "../../lib/config";
import { parseDsn } from "../../lib/dsn";
import { promiseOf, stackFile, useConfig } from "../pulumi/harness";

/** The stack config's `tls` of each endpoint, validated, and carried into the URLs the steps get. */
describe("endpoint TLS in the stack config", () => {
  it("defaults to VERIFY_IDENTITY for AWS and PREFERRED for the IDC, and the step URLs carry it", async () => {
    const raw = stackFile("rollback");
    delete raw["rollback:aws"].tls;
    delete raw["rollback:idc"].tls;
    useConfig(raw);
    const c = loadConfig();
    expect(c.aws.tls).toEqual({ mode: "VERIFY_IDENTITY" });
    expect(c.idc.tls).toEqual({ mode: "PREFERRED" });
    expect(parseDsn(await promiseOf(databaseUrl(c.aws)), "x").tls).toEqual({ mode: "VERIFY_IDENTITY" });
  });

  it("keeps the configured CA bundle path in the URL", async () => {
    const raw = stackFile("rollback");
    raw["rollback:aws"].tls = { mode: "VERIFY_IDENTITY", ca: "/etc/ssl/rds/global-bundle.pem" };
    useConfig(raw);
    const c = loadConfig();
    expect(parseDsn(await promiseOf(databaseUrl(c.aws)), "x").tls).toEqual({ mode: "VERIFY_IDENTITY", ca: "/etc/ssl/rds/global-bundle.pem" });
  });

  it.each([
    [{ mode: "ON" }, /rollback:aws\.tls\.mode/],
    [{ mode: "REQUIRED", cert: "/c.pem" }, /ssl-cert and ssl-key go together/],
    [{ mode: "REQUIRED", capath: "/x" }, /capath/],
  ])("refuses tls %j naming the key", (tls, problem) => {
    const raw = stackFile("rollback");
    raw["rollback:aws"].tls = tls;
    useConfig(raw);
    expect(() => loadConfig()).toThrow(problem);
  });
});
