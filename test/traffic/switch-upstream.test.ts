import { readFile, stat } from "node:fs/promises";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderUpstream } from "../../lib/nginx-upstream";
import { freePort } from "../../lib/sandbox/free-port";
import { NginxSandbox, startNginx } from "../../lib/sandbox/nginx";
import { sha256 } from "../../lib/traffic/atomic-file";
import { switchUpstream } from "../../lib/traffic/switch-upstream";
import { Backend, httpRequest, keepAliveGet, runScript, startBackend } from "./support";

/**
 * Real nginx (Debian's /usr/sbin/nginx, own prefix, loopback port) in front of two tiny app
 * servers, A and B. The upstream file is the one switch-upstream.ts rewrites.
 */
let a: Backend;
let b: Backend;
let nginx: NginxSandbox;
let url: string;
let file: string;

const upstreamTo = (backend: Backend) =>
  renderUpstream({ name: "app", kind: "http", servers: [{ host: "127.0.0.1", port: backend.port }] });
const whoAnswers = async () => (await httpRequest(url)).body.trim();

/**
 * Waits until `backend` serves every request: several answers in a row from one settled worker
 * generation (old workers keep accepting for a moment after a reload; see lib/sandbox/nginx.ts).
 * Returns what answered, so a failed assertion shows it.
 */
async function servedBy(backend: Backend, timeoutMs = 10_000): Promise<string> {
  const want = `backend ${backend.label}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = await nginx.generation();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await whoAnswers());
    const after = await nginx.generation();
    const stable = before.settled && after.settled && before.generation === after.generation;
    if (stable && answers.every((x) => x === want)) return want;
    if (Date.now() > deadline) return `${stable ? "" : "unsettled: "}${answers.join(", ")}`;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  [a, b] = await Promise.all([startBackend("A"), startBackend("B")]);
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  nginx = await startNginx(
    (prefix) => ({
      files: { "upstream-app.conf": upstreamTo(a) },
      http: [
        `include ${prefix}/upstream-app.conf;`,
        `server {`,
        `  listen 127.0.0.1:${port};`,
        `  location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }`,
        `}`,
      ].join("\n"),
    }),
    { name: "switch" },
  );
  file = nginx.path("upstream-app.conf");
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

/** Switches the upstream to one server through the script's real write, test and reload. */
async function switchTo(port: number): Promise<void> {
  const r = await switchUpstream({
    file,
    upstream: { name: "app", kind: "http", servers: [{ host: "127.0.0.1", port }] },
    testCmd: nginx.testArgv,
    reloadCmd: nginx.reloadArgv,
  });
  expect(r.outcome).toBe("switched");
}

/** Puts the upstream back on `backend` between tests, through the real reload. */
async function pointAt(backend: Backend): Promise<void> {
  const offset = await nginx.logOffset();
  await switchTo(backend.port);
  // The switch reloads even when the file is unchanged: wait for that reload to finish.
  await nginx.waitForReload(offset);
  expect(await servedBy(backend)).toBe(`backend ${backend.label}`);
}

describe("switch-upstream against a real nginx", () => {
  it("moves traffic to the new server and reports the previous hash, the new text and the command output", async () => {
    await pointAt(a);
    const before = await readFile(file, "utf8");

    const run = await runScript("switch-upstream", [
      "--file", file,
      "--name", "app",
      "--servers", `127.0.0.1:${b.port} max_fails=2 fail_timeout=5s, 127.0.0.1:${a.port} backup`,
      "--test-cmd", nginx.testCommand,
      "--reload-cmd", nginx.reloadCommand,
      "--json",
    ]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ ok: true, outcome: "switched", changed: true, previous: { existed: true, sha256: sha256(before) } });
    expect(run.json.next.text).toContain(`server 127.0.0.1:${b.port} max_fails=2 fail_timeout=5s;`);
    expect(run.json.next.text).toContain(`server 127.0.0.1:${a.port} backup;`);
    expect(run.json.test).toMatchObject({ ok: true, exitCode: 0 });
    expect(run.json.reload).toMatchObject({ ok: true, exitCode: 0 });
    expect(await readFile(file, "utf8")).toBe(run.json.next.text);
    expect(await servedBy(b)).toBe("backend B");
  });

  it("refuses invalid servers before writing anything: the file and the traffic stay as they were", async () => {
    await pointAt(a);
    const before = await stat(file);
    const text = await readFile(file, "utf8");

    for (const servers of [`127.0.0.1:${b.port},bad host:80`, ` , `]) {
      const run = await runScript("switch-upstream", ["--file", file, "--name", "app", "--servers", servers, "--test-cmd", nginx.testCommand, "--reload-cmd", nginx.reloadCommand, "--json"]);
      expect(run.code, servers).toBe(2);
      expect(run.json.ok).toBe(false);
      expect(run.json.error.subject).toMatch(/servers/);
    }
    // Values the parser accepts but nginx would not: refused by the same validation, before the write.
    await expect(
      switchUpstream({
        file,
        upstream: { name: "app", kind: "http", servers: [{ host: "127.0.0.1", port: b.port, weight: 0 }] },
        testCmd: nginx.testArgv,
        reloadCmd: nginx.reloadArgv,
      }),
    ).rejects.toThrow(/servers\[0\]\.weight: must be an integer >= 1/);

    expect(await readFile(file, "utf8")).toBe(text);
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("keeps the old nginx config when `nginx -t` fails, and exits 1", async () => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const offset = await nginx.logOffset();

    // A typo'd host: nginx resolves upstream names when it loads the config, so `nginx -t` fails.
    const r = await switchUpstream({
      file,
      upstream: { name: "app", kind: "http", servers: [{ host: "app-server-typo.invalid", port: b.port }] },
      testCmd: nginx.testArgv,
      reloadCmd: nginx.reloadArgv,
    });

    expect(r).toMatchObject({ ok: false, outcome: "rolled-back", reload: null });
    expect(r.test.ok).toBe(false);
    expect(r.test.stderr).toMatch(/host not found in upstream "app-server-typo.invalid/);
    expect(r.problem).toMatch(/config test failed/);
    expect(await readFile(file, "utf8")).toBe(text);
    // Nothing was reloaded, and A still serves.
    expect((await readFile(nginx.errorLogPath)).subarray(offset).toString()).not.toMatch(/reconfiguring/);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("puts the previous file back and reloads it again when the reload fails after half-applying", async () => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const marker = nginx.path("reload-failed-once");
    // Signals nginx (the new file is live!) and then reports failure, once: like a wrapper that
    // times out after sending the signal. The second call (the reload back) succeeds.
    const flakyReload = ["sh", "-c", `"$@"; test -e ${marker} || { touch ${marker}; echo "reload timed out" >&2; exit 1; }`, "sh", ...nginx.reloadArgv];

    const r = await switchUpstream({
      file,
      upstream: { name: "app", kind: "http", servers: [{ host: "127.0.0.1", port: b.port }] },
      testCmd: nginx.testArgv,
      reloadCmd: flakyReload,
    });

    expect(r).toMatchObject({ ok: false, outcome: "rolled-back" });
    expect(r.reload?.stderr).toContain("reload timed out");
    expect(r.restore?.test?.ok).toBe(true);
    expect(r.restore?.reload?.ok).toBe(true);
    expect(await readFile(file, "utf8")).toBe(text);
    // The half-applied reload pointed nginx at B for a moment; the reload back returns it to A.
    expect(await servedBy(a)).toBe("backend A");
  });

  it("loses no request while switching back and forth under steady keep-alive load", async () => {
    await pointAt(a);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const tally = { ok: 0, errors: [] as string[], retriedOnClosedKeepAlive: 0, seen: new Set<string>() };
    let running = true;
    const client = async () => {
      while (running) {
        try {
          const { reply, retried } = await keepAliveGet(url, agent);
          if (retried) tally.retriedOnClosedKeepAlive++;
          if (reply.status === 200) {
            tally.ok++;
            tally.seen.add(reply.body.trim());
          } else tally.errors.push(`status ${reply.status}`);
        } catch (e) {
          tally.errors.push((e as Error).message);
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);

    for (const target of [b, a, b, a, b, a]) {
      await new Promise((r) => setTimeout(r, 100));
      await switchTo(target.port);
    }
    await new Promise((r) => setTimeout(r, 200));
    running = false;
    await Promise.all(clients);
    agent.destroy();

    expect(tally.errors).toEqual([]);
    expect(tally.ok).toBeGreaterThan(200);
    expect([...tally.seen].sort()).toEqual(["backend A", "backend B"]);
    // Evidence of what the clients went through (see keepAliveGet): printed, not asserted.
    console.log(`steady load: ${tally.ok} requests, 0 errors, ${tally.retriedOnClosedKeepAlive} idempotent retries after nginx closed an idle keep-alive connection`);
  });

  it("writes only its own block: other directives in the file are kept", async () => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const { writeFile } = await import("node:fs/promises");
    const withNeighbour = `# hand-written\nupstream other { server 127.0.0.1:${b.port}; }\n\n${text}`;
    await writeFile(file, withNeighbour);

    const r = await switchUpstream({
      file,
      upstream: { name: "app", kind: "http", servers: [{ host: "127.0.0.1", port: b.port }] },
      testCmd: nginx.testArgv,
      reloadCmd: nginx.reloadArgv,
    });

    expect(r.outcome).toBe("switched");
    const after = await readFile(file, "utf8");
    expect(after.startsWith(`# hand-written\nupstream other { server 127.0.0.1:${b.port}; }\n\n`)).toBe(true);
    expect(after.match(/upstream app \{/g)).toHaveLength(1);
    expect(await servedBy(b)).toBe("backend B");
  });
});
