import { symlink } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PreflightInputs, runPreflight } from "../../lib/preflight";
import { freePort } from "../../lib/sandbox/free-port";
import { type NginxSandbox, startNginx } from "../../lib/sandbox/nginx";
import { inputs } from "./fixture";

/** A real nginx that includes upstream.conf, with other.conf next to it that it does not include. */
describe("preflight: nginx", () => {
  let nginx: NginxSandbox;
  beforeAll(async () => {
    const port = await freePort();
    nginx = await startNginx((prefix) => ({
      files: { "upstream.conf": "upstream app { server 127.0.0.1:1; }\n", "other.conf": "upstream app { server 127.0.0.1:1; }\n", "maint/README": "flag folder\n", "mixed.conf": "upstream mixed { server 127.0.0.1:2; }\nmap $host $mixed { default 1; }\n" },
      http: `include ${prefix}/upstream.conf;\ninclude ${prefix}/mixed.conf;\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`,
    }), { name: "preflight" });
    await symlink(nginx.path("upstream.conf"), nginx.path("linked.conf"));
  });
  afterAll(() => nginx?.stop());

  const check = async (over: Partial<PreflightInputs["nginx"]>, onNginxHost = false) => {
    const n = { file: nginx.path("upstream.conf"), testCommand: nginx.testCommand, reloadCommand: nginx.reloadCommand, maintenanceFlag: nginx.path("maint/on.flag"), ...over };
    return (await runPreflight(inputs({ nginx: n }), { env: {}, only: ["nginx"], onNginxHost })).checks[0];
  };

  it("passes when nginx -T lists the upstream file and both folders are writable", async () => {
    const c = await check({});
    expect(c.status).toBe("pass");
    expect(c.evidence[0]).toMatch(new RegExp(` -T -q lists 3 file\\(s\\), ${nginx.path("upstream.conf")} among them, a file of upstream blocks$`));
  });

  it("accepts a path that is a symlink to a file nginx loads", async () => {
    expect((await check({ file: nginx.path("linked.conf") })).status).toBe("pass");
  });

  it("refuses an upstream file nginx does not load", async () => {
    const c = await check({ file: nginx.path("other.conf") });
    expect(c.problems.map((p) => `${p.code} ${p.subject}`)).toEqual([`FILE_NOT_INCLUDED ${nginx.path("other.conf")}`]);
  });

  it("refuses a file nginx loads that holds more than upstream blocks (the switch would refuse it)", async () => {
    const c = await check({ file: nginx.path("mixed.conf") });
    expect(c.problems.map((p) => p.message)).toEqual([
      `FILE_NOT_UPSTREAM: ${nginx.path("mixed.conf")}: is not an nginx upstream file: line 2 starts "map", not an upstream block (point --file at the file that holds only upstream blocks; nothing was written)`,
    ]);
  });

  it("refuses a maintenance flag whose folder does not exist", async () => {
    const c = await check({ maintenanceFlag: nginx.path("missing/on.flag") });
    expect(c.problems.map((p) => `${p.code} ${p.subject}`)).toEqual(["FILE_UNWRITABLE rollback:nginx.maintenanceFlag"]);
  });

  it("refuses commands the switch would refuse: an unquoted shell operator, a test command without -t", async () => {
    const pipe = await check({ testCommand: `${nginx.testCommand} | logger` });
    expect(pipe.problems.map((p) => `${p.code} ${p.subject}`)).toEqual(["COMMAND_INVALID rollback:nginx.testCommand"]);
    const noT = await check({ testCommand: nginx.testCommand.replace(" -t ", " ") });
    expect(noT.problems[0].message).toContain("has no -t to turn into -T");
    expect((await check({ testCommand: nginx.testCommand.replace(" -t ", " "), dumpCommand: nginx.testCommand.replace(" -t ", " -T ") })).status).toBe("pass");
  });

  it("reports a dump that fails (nginx cannot read its config)", async () => {
    const c = await check({ testCommand: nginx.testCommand.replace(nginx.confPath, nginx.path("missing.conf")) });
    expect(c.problems.map((p) => p.code)).toEqual(["NGINX_DUMP_FAILED"]);
  });

  it("says it did not check nginx over SSH, and checks it when told it runs on the nginx host", async () => {
    const remote = await check({ sshHost: "nginx-1" });
    expect(remote.status).toBe("not-checked");
    expect(remote.reason).toContain("nginx runs on nginx-1 (over SSH)");
    expect((await check({ sshHost: "nginx-1" }, true)).status).toBe("pass");
  });
});
