import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contacts } from "./contacts-fixture";
import { decide } from "../../lib/decision";
import { buildReport, CHECK } from "../../lib/report";
import { renderMarkdown } from "../../lib/report/markdown";
import { STEPS, budgetMs } from "../../lib/runbook";
import { TimelineEntry } from "../../lib/timeline";

const exec = promisify(execFile);
const ROOT = join(__dirname, "..", "..");


const SECRET = "Pa55w0rd-xyz";
const verifyOk = { identical: true, mismatchPct: 0, rowsCompared: 20_000, tables: [{ table: "orders", identical: true, missing: 0, extra: 0, changed: 0 }] };

/** A whole rollback's timeline, as the runbook and the drill write it (step reports in the contracts' shapes). */
function timeline(over: Partial<Record<string, Partial<TimelineEntry>>> = {}): TimelineEntry[] {
  let t = Date.parse("2024-12-01T01:00:00Z");
  const reports: Record<string, unknown> = {
    "maintenance-on": { ok: true, on: true },
    drain: { ok: true, waitedMs: 120 },
    "backup-check": {
      ok: true,
      chosen: "/backups/b1",
      candidates: [
        { path: "/backups/b2", valid: false, reasons: ["orders.sql.gz: sha256 mismatch"], createdAt: "2024-12-01T00:50:00Z" },
        { path: "/backups/b1", valid: true, reasons: [], createdAt: "2024-12-01T00:40:00Z" },
      ],
    },
    diff: { ...verifyOk, identical: false, mismatchPct: 2, tables: [{ table: "orders", identical: false, missing: 40, extra: 0, changed: 12 }] },
    sync: { identical: true, inserted: 40, updated: 12, deleted: 3, tables: [] },
    verify: verifyOk,
    "nginx-upstream": {
      ok: true,
      outcome: "switched",
      file: "/etc/nginx/rollback/upstream-app.conf",
      effect: { proven: true, note: "proven", probe: { ok: true, expected: "GET http://127.0.0.1/rollback-probe answers with header x-app: idc", attempts: 4, durationMs: 700, lastAnswer: "status 200, x-app: idc" } },
    },
    "maintenance-off": { ok: true, flag: "/var/lib/rollback/maintenance.flag", maintenance: false, changed: true },
    health: {
      ok: true,
      checks: [
        { check: "mysql", target: "root@127.0.0.1:3306/shop", ok: true, evidence: { version: "10.11" }, problem: null },
        { check: "http", target: "http://127.0.0.1:8080/health", ok: true, evidence: { status: 200, latencyMs: 3 }, problem: null },
        { check: "disk", target: "/var/lib/mysql", ok: true, evidence: { freePct: 71 }, problem: null },
        { check: "memory", target: "host", ok: true, evidence: { freeMb: 900 }, problem: null },
      ],
    },
  };
  const entries: TimelineEntry[] = [];
  const d = decide({ lostRows: 0, mismatchPct: 0, errorRatePct: 12, performanceDegradationPct: 45 });
  entries.push({ step: CHECK.decide, phase: "decision", startedAt: new Date(t).toISOString(), durationMs: 900, budgetMs: null, status: "ok", exitCode: null, report: { ...d, measurements: {} } });
  for (const s of STEPS) {
    const entry: TimelineEntry = {
      step: s.id,
      phase: s.phase,
      startedAt: new Date((t += 1000)).toISOString(),
      durationMs: 800,
      budgetMs: budgetMs(s.phase),
      status: "ok",
      exitCode: s.script ? 0 : null,
      report: reports[s.id] ?? { ok: true },
      ...(s.id === "rds-power" ? { status: "not-run" as const, note: "not run: no AWS here" } : {}),
      ...over[s.id],
    };
    entries.push(entry);
  }
  const perf = (phase: "decision" | "verification", aws: number) => ({
    step: CHECK.perf,
    phase,
    startedAt: new Date((t += 1000)).toISOString(),
    durationMs: 500,
    budgetMs: null,
    status: "ok" as const,
    exitCode: null,
    report: {
      baselineLabel: phase === "decision" ? "idc" : "aws",
      candidateLabel: phase === "decision" ? "aws" : "idc",
      runs: 30,
      queries: [{ name: "q", baseline: { p50Ms: 2, p95Ms: 3 }, candidate: { p50Ms: aws, p95Ms: aws * 1.5 } }],
      baselineP50Ms: 2,
      candidateP50Ms: aws,
      degradationPct: ((aws - 2) / 2) * 100,
    },
  });
  entries.push(perf("decision", 2.9), perf("verification", 2.1));
  entries.push({
    step: CHECK.clients,
    phase: "verification",
    startedAt: new Date((t += 1000)).toISOString(),
    durationMs: 0,
    budgetMs: null,
    status: "ok",
    exitCode: null,
    report: { requests: 5000, errors: 4, maintenance503: 700, downtimeMs: 9000, afterRollback: { requests: 800, errors: 0 } },
  });
  entries.push({ step: CHECK.lostRows, phase: "verification", startedAt: new Date(t).toISOString(), durationMs: 10, budgetMs: null, status: "ok", exitCode: null, report: { checked: 321, lost: 0 } });
  return entries;
}

describe("the rollback report (R6–R8)", () => {
  it("passes every §6 checklist item with its evidence when the rollback went well", () => {
    const r = buildReport(timeline(), { title: "drill", contacts, secrets: [SECRET] });
    expect(r.checklist.map((c) => [c.id, c.pass])).toEqual([
      ["data-completeness", true],
      ["performance", true],
      ["app-works", true],
      ["reachability", true],
      ["monitoring", true],
      ["backups", true],
      ["logs", true],
    ]);
    expect(r.ok).toBe(true);
    const evidence = (id: string) => r.checklist.find((c) => c.id === id)!.evidence.join("\n");
    expect(evidence("data-completeness")).toMatch(/verify step: identical: 20,000 rows compared in 1 tables/);
    expect(evidence("data-completeness")).toMatch(/sync step copied back: inserted 40, updated 12, deleted 3/);
    expect(evidence("data-completeness")).toMatch(/321 acknowledged writes checked on IDC, 0 lost/);
    expect(evidence("backups")).toMatch(/chose \/backups\/b1 \(created 2024-12-01T00:40:00Z\); \/backups\/b2 rejected: orders.sql.gz: sha256 mismatch/);
    expect(evidence("performance")).toMatch(/after rollback \(idc vs aws\): p50 aws 2.00 ms vs idc 2.10 ms, degradation \+5 %/);
    expect(evidence("app-works")).toMatch(/http http:\/\/127.0.0.1:8080\/health: ok \[status=200 latencyMs=3\]/);
    expect(evidence("reachability")).toMatch(/clients after maintenance-off: 800 requests, 0 errors/);
    expect(evidence("reachability")).toMatch(/✓ nginx switch proven through nginx: GET .* answers with header x-app: idc \(4 attempt\(s\), last answer: status 200, x-app: idc\)/);
  });

  it("does not let a verify recorded before a later failed sync make data completeness pass", () => {
    // A second `pulumi up`: the sync ran again and failed half-way; the verify in the timeline is the first run's.
    const first = timeline();
    const end = Date.parse(first.at(-1)!.startedAt);
    const rerun: TimelineEntry = { ...first.find((e) => e.step === "sync")!, startedAt: new Date(end + 60_000).toISOString(), status: "failed", exitCode: 2, report: null };
    const r = buildReport([...first, rerun], { title: "t", secrets: [] });
    const item = r.checklist.find((c) => c.id === "data-completeness")!;
    expect(item.pass).toBe(false);
    expect(item.evidence.join("\n")).toMatch(/✗ the latest verify \(.*\) ran before the latest sync \(.*\): it does not prove the data as that sync left it/);
    expect(item.evidence.join("\n")).toMatch(/✗ sync step failed \(exit 2\)/);
  });

  it("judges each step by its latest entry in time order, not by its line in the file", () => {
    const entries = timeline();
    const verify = entries.find((e) => e.step === "verify")!;
    // A failed verify from earlier, appended after the good one (another process's line).
    const stale: TimelineEntry = { ...verify, startedAt: new Date(Date.parse(verify.startedAt) - 30_000).toISOString(), status: "failed", exitCode: 1, report: { ...verifyOk, identical: false, mismatchPct: 3 } };
    const r = buildReport([...entries, stale], { title: "t", secrets: [] });
    expect(r.checklist.find((c) => c.id === "data-completeness")!.pass).toBe(true);
    expect(r.checklist.find((c) => c.id === "logs")!.pass).toBe(true);
  });

  it("'users can reach it' fails on a switch whose effect is unproven, exit code 0 notwithstanding", () => {
    const unproven = { ok: true, outcome: "switched", effect: { proven: false, probe: null, note: "effect unproven: no probe was given" } };
    for (const report of [unproven, { ok: true }]) {
      const r = buildReport(timeline({ "nginx-upstream": { report } }), { title: "t", secrets: [] });
      const item = r.checklist.find((c) => c.id === "reachability")!;
      expect(item.pass).toBe(false);
      expect(item.evidence.join("\n")).toMatch(/✗ nginx switch ok \(exit 0\): effect unproven/);
    }
    const stillOn = buildReport(timeline({ "maintenance-off": { report: { ok: true, maintenance: true } } }), { title: "t", secrets: [] });
    expect(stillOn.checklist.find((c) => c.id === "reachability")!.evidence.join("\n")).toMatch(/✗ maintenance-off ok \(exit 0\): its report does not say maintenance is off/);
  });

  it("reads phase timings as durations: '4 s into the run (window: by 15 min)', not 'min 0.07 of 15'", () => {
    const md = renderMarkdown(buildReport(timeline(), { title: "t", secrets: [] }));
    const cutoff = md.split("\n").find((l) => l.startsWith("| Emergency") || l.includes("cut-off"))!;
    expect(cutoff).toMatch(/\| \d+ s into the run \(window: by 15 min\) \|/);
    expect(md).not.toMatch(/min \d+\.\d+ of/);
  });

  it("fails the items whose evidence says so, and the ones nothing measured", () => {
    const entries = timeline({ verify: { status: "failed", exitCode: 1, report: { ...verifyOk, identical: false, mismatchPct: 0.2 } } })
      .filter((e) => e.step !== CHECK.clients && e.step !== "health");
    const r = buildReport(entries, { title: "t", secrets: [] });
    const byId = Object.fromEntries(r.checklist.map((c) => [c.id, c]));
    expect(byId["data-completeness"].pass).toBe(false);
    expect(byId["data-completeness"].evidence[0]).toMatch(/✗ verify step: DIFFERENT/);
    expect(byId["app-works"]).toMatchObject({ pass: false, evidence: ["not measured: no health step with HTTP, canary or MySQL checks"] });
    expect(byId.logs.evidence[0]).toMatch(/failed: verify/);
    expect(r.ok).toBe(false);
  });

  it("judges 'performance compared' by the probe after the rollback, else by users' response times before and after", () => {
    const slowerUsers = timeline().map((e) =>
      e.step === CHECK.clients
        ? { ...e, report: { ...(e.report as object), beforeCutover: { requests: 300, p50Ms: 4, p95Ms: 9 }, afterRollback: { requests: 300, errors: 0, p50Ms: 7, p95Ms: 12 } } }
        : e,
    );
    const perf = (entries: TimelineEntry[]) => buildReport(entries, { title: "t", secrets: [] }).checklist.find((c) => c.id === "performance")!;
    const probed = perf(slowerUsers);
    expect(probed.pass).toBe(true);
    expect(probed.evidence.at(-1)).toMatch(/^· users' response time on IDC, before the cut-over vs after the rollback: p50 4.00 ms vs 7.00 ms \(\+75 %\)/);
    const withoutProbe = perf(slowerUsers.filter((e) => !(e.step === CHECK.perf && e.phase === "verification")));
    expect(withoutProbe.pass).toBe(false);
    expect(withoutProbe.evidence.at(-1)).toMatch(/^✗ users' response time/);
    expect(perf(timeline().filter((e) => e.step !== CHECK.perf)).evidence[0]).toMatch(/^not measured: no comparison after the rollback/);
  });

  it("times phases against their budgets and flags an overrun", () => {
    const r = buildReport(timeline({ sync: { durationMs: 16 * 60_000 } }), { title: "t", secrets: [] });
    expect(r.phases.map((p) => [p.id, p.status])).toEqual([
      ["cutoff", "ok"],
      ["data-sync", "over-budget"],
      ["normalisation", "ok"],
    ]);
    expect(r.phases[0]).toMatchObject({ budgetMs: 15 * 60_000, steps: STEPS.filter((s) => s.phase === "cutoff").map((s) => s.id) });
  });

  it("fills the §7 follow-ups with owners from the contacts and the measured facts", () => {
    const r = buildReport(timeline(), { title: "t", contacts, changes: { rdsDesiredState: "stopped (final snapshot rollback-final-1)", dnsWeights: { idc: 100, aws: 0 } }, secrets: [] });
    const f = (when: string, action: RegExp) => r.followUps.find((x) => x.when === when && action.test(x.action))!;
    expect(f("immediate", /Initial analysis/)).toMatchObject({ owner: "Park App (app team, #app)" });
    expect(f("immediate", /Initial analysis/).facts.join()).toMatch(/Application error rate: 12 % > 5 %/);
    expect(f("immediate", /Notify users/).facts[0]).toMatch(/maintenance page shown for \d+ s/);
    expect(f("24h", /AWS resources/).facts).toEqual(["RDS desired state: stopped (final snapshot rollback-final-1)", "Route53 weights: idc 100, aws 0"]);
    expect(f("24h", /Re-migration/).facts[0]).toMatch(/inserted 40, updated 12, deleted 3/);
    expect(f("week", /retrospective/).owner).toMatch(/Kim Admin/);
    expect(buildReport(timeline(), { title: "t", secrets: [] }).followUps[0].owner).toBe("app team (unassigned: set rollback:contacts)");
  });

  it("never contains a secret, even when a step's report echoed one", () => {
    const leaky = timeline({ drain: { report: { ok: true, server: `mysql://root:${SECRET}@10.0.0.1:3306/shop`, note: `pw ${SECRET}` } } });
    const r = buildReport(leaky, { title: "t", contacts, secrets: [SECRET], changes: { connectionSecretArn: "arn:aws:secretsmanager:ap-northeast-2:1:secret:app-db" } });
    const text = JSON.stringify(r);
    expect(text).not.toContain(SECRET);
    expect(text).toContain("mysql://root:[redacted]@10.0.0.1:3306/shop");
  });

  describe("scripts/report.ts", () => {
    let dir = "";
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "rollback-report-"));
      await writeFile(join(dir, "timeline.jsonl"), timeline().map((e) => JSON.stringify(e)).join("\n") + "\n");
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it("writes timeline.json and report.md from the timeline, contacts and changes from env", async () => {
      const r = await exec(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "report.ts"), "--timeline", join(dir, "timeline.jsonl"), "--json"], {
        env: { ...process.env, ROLLBACK_CONTACTS: JSON.stringify(contacts), ROLLBACK_CHANGES: JSON.stringify({ dnsWeights: { idc: 100, aws: 0 } }) },
      });
      const out = JSON.parse(r.stdout);
      expect(out.ok).toBe(true);
      expect(out.files.reportMd).toBe(join(dir, "report.md"));
      const md = await readFile(out.files.reportMd, "utf8");
      for (const heading of ["## Decision (plan §5)", "## Phases against budgets", "## What changed where", "## Checklist (plan §6)", "### Within 24 hours", "## Contacts"]) {
        expect(md).toContain(heading);
      }
      expect(md).toContain("- [x] **Backups working: PASS**");
      expect(md).toContain("| Route53 | weighted records | idc 100, aws 0 |");
      const json = JSON.parse(await readFile(out.files.timelineJson, "utf8"));
      expect(json.entries).toHaveLength(timeline().length);
    });

    it("exits 0 when checks were only not measured (a plain pulumi up), 1 when one failed on its evidence", async () => {
      const tsx = join(ROOT, "node_modules", ".bin", "tsx");
      const plain = join(dir, "plain.jsonl");
      await writeFile(plain, timeline().filter((e) => e.phase !== "verification").map((e) => JSON.stringify(e)).join("\n") + "\n");
      const r = await exec(tsx, [join(ROOT, "scripts", "report.ts"), "--timeline", plain, "--out", join(dir, "plain"), "--json"]);
      const out = JSON.parse(r.stdout);
      expect(out.ok).toBe(false);
      expect(out.checklist.find((c: { id: string }) => c.id === "performance")).toMatchObject({ pass: false, measured: false });
      const failed = join(dir, "failed.jsonl");
      await writeFile(failed, timeline({ verify: { status: "failed", exitCode: 1 } }).map((e) => JSON.stringify(e)).join("\n") + "\n");
      const f = await exec(tsx, [join(ROOT, "scripts", "report.ts"), "--timeline", failed, "--out", join(dir, "failed")]).catch((e: { code: number }) => e);
      expect(f).toMatchObject({ code: 1 });
    });

    it("names the variable and key of bad ROLLBACK_CONTACTS", async () => {
      const r = await exec(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "report.ts"), "--timeline", join(dir, "timeline.jsonl")], {
        env: { ...process.env, ROLLBACK_CONTACTS: JSON.stringify({ dba: { name: "x" } }) },
      }).catch((e: { code: number; stderr: string }) => e);
      expect(r).toMatchObject({ code: 2 });
      expect((r as { stderr: string }).stderr).toMatch(/ENV_INVALID: ROLLBACK_CONTACTS\./);
    });
  });
});
