import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderUpstream } from "../../lib/nginx-upstream";
import { freePort } from "../../lib/sandbox/free-port";
import { NginxSandbox, startNginx } from "../../lib/sandbox/nginx";
import { maintenanceOff, maintenanceOn, maintenanceStatus } from "../../lib/traffic/maintenance";
import { HEALTH_PATH, maintenanceSnippets } from "../../lib/traffic/nginx-snippets";
import { Backend, httpRequest, runScript, startBackend } from "./support";

/**
 * Real nginx with the snippets shipped in nginx/ (paths pointed into the sandbox prefix), laid
 * out as nginx/example-server.conf shows, in front of one app server.
 */
let app: Backend;
let nginx: NginxSandbox;
let base: string;
let flag: string;

beforeAll(async () => {
  app = await startBackend("app");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  nginx = await startNginx(async (prefix) => {
    const dir = `${prefix}/rollback`;
    const snippets = await maintenanceSnippets({ dir, flag: `${prefix}/maintenance.flag` });
    return {
      files: {
        ...Object.fromEntries(Object.entries(snippets).map(([name, text]) => [`rollback/${name}`, text])),
        "rollback/upstream-app.conf": renderUpstream({ name: "app", kind: "http", servers: [{ host: "127.0.0.1", port: app.port }] }),
      },
      http: [
        `include ${dir}/upstream-app.conf;`,
        `server {`,
        `  listen 127.0.0.1:${port};`,
        `  include ${dir}/maintenance-server.conf;`,
        `  location / {`,
        `    include ${dir}/maintenance-location.conf;`,
        `    proxy_pass http://app;`,
        `  }`,
        `}`,
      ].join("\n"),
    };
  }, { name: "maintenance" });
  flag = nginx.path("maintenance.flag");
});

afterAll(async () => {
  await nginx?.stop();
  await app?.close();
});

describe("maintenance mode with the shipped nginx snippets", () => {
  it("serves 503 with Retry-After and the maintenance page while on, keeps the health location at 200, needs no reload", async () => {
    await maintenanceOff(flag);
    expect((await httpRequest(`${base}/orders/42`)).body).toBe("backend app\n");
    const offset = await nginx.logOffset();

    const on = await runScript("maintenance", ["on", "--flag", flag, "--reason", "rollback to IDC", "--json"]);
    expect(on.code, on.stderr).toBe(0);
    expect(on.json).toMatchObject({ ok: true, maintenance: true, changed: true, reason: "rollback to IDC", flag });

    for (const method of ["GET", "POST"]) {
      const r = await httpRequest(`${base}/orders/42`, { method });
      expect(r.status, method).toBe(503);
      expect(r.headers["retry-after"]).toBe("120");
      expect(r.headers["cache-control"]).toBe("no-store");
      expect(r.body).toContain("under maintenance");
    }
    const health = await httpRequest(`${base}${HEALTH_PATH}`);
    expect(health).toMatchObject({ status: 200, body: "ok\n" });
    // The page is `internal`: reachable only as the error page.
    expect((await httpRequest(`${base}/rollback-maintenance.html`)).status).toBe(404);

    const off = await runScript("maintenance", ["off", "--flag", flag, "--json"]);
    expect(off.code).toBe(0);
    expect(off.json).toMatchObject({ maintenance: false, changed: true });
    const back = await httpRequest(`${base}/orders/42`);
    expect(back).toMatchObject({ status: 200, body: "backend app\n" });
    expect(back.headers["retry-after"]).toBeUndefined();
    expect((await readFile(nginx.errorLogPath)).subarray(offset).toString()).not.toMatch(/reconfiguring/);
  });

  it("is idempotent: on twice keeps the first 'since', off twice is fine", async () => {
    await maintenanceOff(flag);
    const first = await maintenanceOn(flag, "first", new Date("2030-01-01T00:00:00Z"));
    const again = await maintenanceOn(flag, "second");
    expect(again).toMatchObject({ maintenance: true, changed: false, since: "2030-01-01T00:00:00.000Z", reason: "first" });
    expect(first.changed).toBe(true);
    expect(await maintenanceStatus(flag)).toMatchObject({ maintenance: true, since: "2030-01-01T00:00:00.000Z" });
    expect((await maintenanceOff(flag)).changed).toBe(true);
    expect(await maintenanceOff(flag)).toMatchObject({ maintenance: false, changed: false });
  });

  it("treats a flag made by hand (touch) as on, says it is not its own, and `off` leaves it in place (exit 2)", async () => {
    const { writeFile } = await import("node:fs/promises");
    for (const text of ["", "someone else's maintenance\n", `{"since":"2030-01-01T00:00:00Z"}`]) {
      await writeFile(flag, text);
      expect(await maintenanceStatus(flag)).toMatchObject({ maintenance: true, ours: false });
      const status = await runScript("maintenance", ["status", "--flag", flag]);
      expect(status.stderr).toContain("NOT written by `maintenance on`");
      const off = await runScript("maintenance", ["off", "--flag", flag, "--json"]);
      expect(off.code, text).toBe(2);
      expect(off.json.error).toMatchObject({ code: "FILE_NOT_OURS", subject: flag });
      expect(await readFile(flag, "utf8")).toBe(text);
      expect((await httpRequest(`${base}/`)).status).toBe(503);
    }
    const { unlink } = await import("node:fs/promises");
    await unlink(flag);
    const on = await maintenanceOn(flag, "ours");
    expect(on.ours).toBe(true);
    expect(await maintenanceOff(flag)).toMatchObject({ maintenance: false, changed: true });
  });

  it("refuses a flag whose directory does not exist, naming the flag", async () => {
    const run = await runScript("maintenance", ["on", "--flag", "/nonexistent-dir/maintenance.flag", "--json"]);
    expect(run.code).toBe(2);
    expect(run.json.error).toMatchObject({ code: "FILE_UNWRITABLE", subject: "/nonexistent-dir/maintenance.flag", problem: "directory /nonexistent-dir does not exist" });
  });
});
