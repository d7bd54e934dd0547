import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contacts } from "./contacts-fixture";
import { Notifier } from "../../lib/notify";
import { freePort } from "../../lib/sandbox/free-port";


/** A local Slack-compatible receiver: records each JSON body; answers with `status`. */
function receiver(status: () => number) {
  const bodies: { path: string; text: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      bodies.push({ path: req.url ?? "", text: (JSON.parse(body) as { text: string }).text });
      res.writeHead(status()).end("ok");
    });
  });
  return { server, bodies };
}

describe("notifications (plan §8)", () => {
  let status = 200;
  const { server, bodies } = receiver(() => status);
  let url = "";

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    // The path of a Slack webhook is its credential: the test puts a secret-looking token there.
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/s3cr3tT0ken`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("posts start (with contacts), each phase, progress every interval and the end, in order", async () => {
    bodies.length = 0;
    const logs: string[] = [];
    const n = new Notifier({ webhookUrl: url, contacts, progressEveryMs: 60, log: (l) => logs.push(l), title: "drill" }, () => ({
      phase: "Data sync",
      step: "sync",
    }));
    n.start(["Rolling back to IDC"]);
    n.phase(["Phase: Emergency cut-off"]);
    await new Promise((r) => setTimeout(r, 200));
    await n.end(true, ["lost 0 rows"]);
    const kinds = bodies.map((b) => /— (\w+)/.exec(b.text)?.[1]);
    expect(kinds[0]).toBe("start");
    expect(kinds[1]).toBe("phase");
    expect(kinds.filter((k) => k === "progress").length).toBeGreaterThanOrEqual(2);
    expect(kinds.at(-1)).toBe("end");
    expect(bodies[0].text).toContain("DBA: Lee DBA (dba@example.com)");
    expect(bodies.find((b) => b.text.includes("progress"))?.text).toContain("Step: sync");
    expect(bodies.at(-1)?.text).toMatch(/Result: succeeded[\s\S]*lost 0 rows/);
    // No message after the end: the progress timer stopped.
    const count = bodies.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(bodies.length).toBe(count);
    expect(n.deliveries.every((d) => d.ok)).toBe(true);
  });

  it("escalates a failed rollback to the emergency contact", async () => {
    bodies.length = 0;
    const n = new Notifier({ webhookUrl: url, contacts, progressEveryMs: 10_000, log: () => undefined, title: "drill" });
    n.start([]);
    await n.end(false, ["verify failed"]);
    expect(bodies.at(-1)?.text).toMatch(/Result: FAILED[\s\S]*Escalation: On-call \(\+82-10-9999-9999\)/);
  });

  it("keeps going when the webhook fails, and logs it without the URL", async () => {
    status = 500;
    const logs: string[] = [];
    const n = new Notifier({ webhookUrl: url, contacts, progressEveryMs: 10_000, log: (l) => logs.push(l), title: "drill" });
    n.start(["x"]);
    n.phase(["y"]);
    await n.end(true, []);
    status = 200;
    expect(n.deliveries.map((d) => d.result)).toEqual(["HTTP 500", "HTTP 500", "HTTP 500"]);
    expect(logs.filter((l) => l.includes("webhook delivery failed (HTTP 500); the rollback goes on"))).toHaveLength(3);
    expect(logs.join("\n")).not.toContain("s3cr3tT0ken");
  });

  it("survives an unreachable webhook (connection refused) without throwing or leaking the URL", async () => {
    const dead = `http://127.0.0.1:${await freePort()}/hooks/s3cr3tT0ken`;
    const logs: string[] = [];
    const n = new Notifier({ webhookUrl: dead, progressEveryMs: 10_000, log: (l) => logs.push(l), title: "drill" });
    n.start(["x"]);
    await expect(n.end(true, [])).resolves.toBeUndefined();
    expect(n.deliveries.map((d) => d.ok)).toEqual([false, false]);
    expect(n.deliveries[0].result).toBe("ECONNREFUSED");
    expect(logs.join("\n")).not.toContain("s3cr3tT0ken");
  });

  it("only logs when no webhook is configured", async () => {
    const logs: string[] = [];
    const n = new Notifier({ progressEveryMs: 10_000, log: (l) => logs.push(l), title: "drill" });
    n.start(["x"]);
    await n.end(true, []);
    expect(n.deliveries).toEqual([]);
    expect(logs).toEqual(["notify start: x", "notify end: Result: succeeded"]);
  });
});

describe("notifications around a real run (scripts/step.ts, scripts/report.ts)", () => {
  const { server, bodies } = receiver(() => 200);
  let url = "";
  let dir = "";
  const tsx = join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
  const run = (script: string, args: string[]) =>
    promisify(execFile)(tsx, [join(__dirname, "..", "..", "scripts", script), ...args], {
      env: { ...process.env, ROLLBACK_WEBHOOK_URL: url, ROLLBACK_CONTACTS: JSON.stringify(contacts) },
    }).catch((e: { code: number }) => e);

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T1/B1/t0ken`;
    dir = await mkdtemp(join(tmpdir(), "rollback-notify-"));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("announces the start, each new phase, a failed step, and the end with escalation", async () => {
    const timeline = join(dir, "run-42", "timeline.jsonl");
    const ok = [process.execPath, "-e", ""];
    await run("step.ts", ["maintenance-on", "--timeline", timeline, "--", ...ok]);
    await run("step.ts", ["drain", "--timeline", timeline, "--", ...ok]);
    await run("step.ts", ["backup-check", "--timeline", timeline, "--", process.execPath, "-e", "process.exit(1)"]);
    await run("report.ts", ["--timeline", timeline]);
    const texts = bodies.map((b) => b.text);
    expect(texts.map((t) => /— (\w+)/.exec(t)?.[1])).toEqual(["start", "phase", "phase", "end"]);
    expect(texts[0]).toMatch(/Rollback run run-42[\s\S]*Runbook started: maintenance-on \(Emergency cut-off\)[\s\S]*DBA: Lee DBA/);
    expect(texts[1]).toMatch(/Phase: Data sync \(budget 15 min\), first step backup-check/);
    expect(texts[2]).toMatch(/Step backup-check FAILED \(exit 1\)/);
    expect(texts[3]).toMatch(/Result: FAILED[\s\S]*Escalation: On-call/);
  });
});
