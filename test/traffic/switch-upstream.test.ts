import { readFile, stat, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderUpstream } from "../../lib/nginx-upstream";
import { freePort } from "../../lib/sandbox/free-port";
import { NginxSandbox, startNginx } from "../../lib/sandbox/nginx";
import { sha256 } from "../../lib/traffic/atomic-file";
import { switchUpstream } from "../../lib/traffic/switch-upstream";
import { Backend, httpRequest, isAlive, keepAliveGet, runScript, startBackend, startScript } from "./support";

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
    expect(r.test?.ok).toBe(false);
    expect(r.test?.stderr).toMatch(/host not found in upstream "app-server-typo.invalid/);
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

/** switch-upstream.ts's flags for this nginx, switching upstream `app` to `servers`. */
const cli = (servers: string, ...more: string[]) => [
  "--file", file, "--name", "app", "--servers", servers, "--test-cmd", nginx.testCommand, "--reload-cmd", nginx.reloadCommand, "--json", ...more,
];

describe("switch-upstream proves its effect", () => {
  it("refuses a --file that nginx's configuration does not include: nothing written, traffic stays", async () => {
    await pointAt(a);
    const typo = nginx.path("upstream-ap.conf");
    const run = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`).map((w) => (w === file ? typo : w)));
    expect(run.code, run.stderr).toBe(2);
    expect(run.json.error).toMatchObject({ code: "FILE_NOT_INCLUDED", subject: typo });
    expect(run.json.error.problem).toContain(nginx.confPath);
    await expect(stat(typo)).rejects.toThrow(/ENOENT/);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("refuses a file nginx includes that is not an upstream file (nginx.conf itself): left byte for byte", async () => {
    await pointAt(a);
    const before = await readFile(nginx.confPath, "utf8");
    const run = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`).map((w) => (w === file ? nginx.confPath : w)));
    expect(run.code, run.stderr).toBe(2);
    expect(run.json.error.code).toBe("FILE_NOT_UPSTREAM");
    expect(run.json.error.problem).toMatch(/line 2 starts "(user|daemon)/);
    expect(await readFile(nginx.confPath, "utf8")).toBe(before);
  });

  it("proves the switch with a request through nginx that reaches the new backend (header X-Backend)", async () => {
    await pointAt(a);
    const run = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`, "--probe-url", url, "--probe-expect", "header:X-Backend=B"));
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.effect).toMatchObject({ proven: true, probe: { ok: true, lastAnswer: "status 200, x-backend: B" } });
    expect(run.stderr).toMatch(/switched: upstream app -> .*; proven: GET .* answers with header x-backend: B/);
  });

  it("without a probe it switches but says the effect is unproven", async () => {
    await pointAt(a);
    const run = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`));
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.effect).toMatchObject({ proven: false, probe: null });
    expect(run.stderr).toMatch(/effect unproven/);
  });

  it("undoes a switch whose new upstream does not answer through nginx (a dead server): exit 1, A serves again", async () => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const dead = await freePort();
    const run = await runScript("switch-upstream", cli(`127.0.0.1:${dead}`, "--probe-url", url, "--probe-expect", "header:X-Backend=B", "--probe-timeout", "2"));
    expect(run.code, run.stderr).toBe(1);
    expect(run.json).toMatchObject({ outcome: "rolled-back", effect: { proven: false }, restore: { test: { ok: true }, reload: { ok: true } } });
    expect(run.json.effect.probe.lastAnswer).toMatch(/status 502/);
    expect(run.json.problem).toMatch(/did not answer through nginx within 2 s/);
    expect(await readFile(file, "utf8")).toBe(text);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("refuses probe flags that do not fit: a bad expectation, a MySQL probe on an http upstream, an out-of-range timeout", async () => {
    for (const [more, subject] of [
      [["--probe-url", url, "--probe-expect", "X-Backend=B"], "--probe-expect"],
      [["--probe-mysql", "127.0.0.1:3306"], "--probe-mysql"],
      [["--probe-url", url, "--probe-expect", "body:x", "--probe-timeout=-1"], "--probe-timeout"],
      [["--command-timeout", "0"], "--command-timeout"],
    ] as const) {
      const run = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`, ...more));
      expect(run.code, run.stderr).toBe(2);
      expect(run.json.error.subject).toBe(subject);
    }
  });
});

describe("switch-upstream on SIGINT/SIGTERM", () => {
  /**
   * A reload command that reloads nginx and, the first time, records its shell's pid and hangs:
   * the signal lands "during the reload". The reload back (second call) returns at once.
   */
  const hangingReload = (pidFile: string) =>
    `sh -c '"$0" "$@" && { test -e ${pidFile} || { echo $$ > ${pidFile}; sleep 60; }; }' ${nginx.reloadCommand}`;

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s during the reload: ends the command, puts the file back, reloads it, removes the lock, exits %i", async (sig, code) => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const pidFile = nginx.path(`reload-${sig}.pid`);
    const args = cli(`127.0.0.1:${b.port}`);
    args[args.indexOf("--reload-cmd") + 1] = hangingReload(pidFile);
    const running = startScript("switch-upstream", args);
    await running.waitForStderr(/wrote /);
    for (;;) {
      if (await stat(pidFile).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const shellPid = Number(await readFile(pidFile, "utf8"));
    running.child.kill(sig);
    const run = await running.done;

    expect(run.code, run.stderr).toBe(code);
    expect(run.json).toMatchObject({ outcome: "interrupted", restore: { test: { ok: true } } });
    expect(run.json.problem).toContain(`interrupted (${sig}) during or after the reload`);
    expect(run.stderr).toMatch(new RegExp(`${sig}: stopping; putting things back`));
    expect(isAlive(shellPid)).toBe(false);
    expect(await readFile(file, "utf8")).toBe(text);
    await expect(stat(`${file}.lock`)).rejects.toThrow(/ENOENT/);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("SIGINT while probing: the switch is undone and the lock removed, exit 130", async () => {
    await pointAt(a);
    const text = await readFile(file, "utf8");
    const running = startScript("switch-upstream", cli(`127.0.0.1:${b.port}`, "--probe-url", url, "--probe-expect", "header:X-Backend=never", "--probe-timeout", "60"));
    await running.waitForStderr(/reload: /);
    running.child.kill("SIGINT");
    const run = await running.done;
    expect(run.code, run.stderr).toBe(130);
    expect(run.json.problem).toContain("interrupted (SIGINT) while probing");
    expect(run.json.restore.reload.ok).toBe(true);
    expect(await readFile(file, "utf8")).toBe(text);
    await expect(stat(`${file}.lock`)).rejects.toThrow(/ENOENT/);
    expect(await servedBy(a)).toBe("backend A");
  });

  it("a second copy on the same file is refused while the first holds the lock", async () => {
    await pointAt(a);
    const running = startScript("switch-upstream", cli(`127.0.0.1:${b.port}`, "--probe-url", url, "--probe-expect", "header:X-Backend=never", "--probe-timeout", "60"));
    await running.waitForStderr(/reload: /);
    const second = await runScript("switch-upstream", cli(`127.0.0.1:${b.port}`));
    expect(second.code).toBe(2);
    expect(second.json.error).toMatchObject({ code: "FILE_LOCKED", subject: `${file}.lock` });
    running.child.kill("SIGTERM");
    expect((await running.done).code).toBe(143);
  });
});
