import { describe, expect, it } from "vitest";
import { checklist } from "../../lib/report/checklist";
import { describeFence, summarizeReport } from "../../lib/report/evidence";
import type { TimelineEntry } from "../../lib/timeline";

/** The fence's steps in the report: the timeline line, and "no write after the proof" in data completeness. */
const entry = (step: string, status: TimelineEntry["status"], report: unknown, at: number): TimelineEntry => ({
  step, phase: step === "fence" ? "cutoff" : step === "verify" ? "data-sync" : "normalisation",
  startedAt: new Date(Date.parse("2026-12-01T20:00:00Z") + at * 1000).toISOString(), durationMs: 500, budgetMs: 900_000, status, exitCode: status === "ok" ? 0 : 1, report,
});
const verify = entry("verify", "ok", { identical: true, mismatchPct: 0, rowsCompared: 10, tables: [{ table: "orders", identical: true, missing: 0, extra: 0, changed: 0 }] }, 2);
const fenceOn = {
  ok: true, action: "on", method: "account-lock", fenced: true, accounts: [{ user: "app", host: "%", locked: true }], sessions: [],
  killed: [{ id: 12, killed: true, via: "KILL", user: "app", host: "10.0.0.5:5000", inTransaction: true }, { id: 13, killed: true, via: "KILL", user: "app", host: "10.0.0.5:5001", inTransaction: false }],
  position: { kind: "mariadb-gtid", value: "0-1-42", text: "mariadb-gtid:0-1-42" },
};
const dataItem = (entries: TimelineEntry[]) => checklist(entries).find((c) => c.id === "data-completeness")!;

describe("the fence in the report", () => {
  it("summarises the fence step: accounts, killed sessions (and which rolled back), position", () => {
    expect(summarizeReport(fenceOn)).toBe("fence holds: 1 account(s) (account-lock); killed 2 session(s) (1 mid-transaction, rolled back: never acknowledged); position mariadb-gtid:0-1-42");
    expect(describeFence({ ok: true, action: "off", method: "account-lock", lifted: ["'app'@'%'"], kept: ["'legacy'@'%' (locked before the fence)"] })).toBe("lifted 'app'@'%'; kept 'legacy'@'%' (locked before the fence)");
    expect(describeFence({ identical: true, tables: [] })).toBeUndefined();
  });

  it("data completeness passes with a settle that found the position unchanged", () => {
    const settle = entry("settle", "ok", { ok: true, action: "check", method: "account-lock", position: fenceOn.position, moved: [] }, 5);
    const item = dataItem([entry("fence", "ok", fenceOn, 1), verify, settle]);
    expect(item.pass).toBe(true);
    expect(item.evidence).toContain("✓ no write after the proof (settle): fence holds, no session open, position mariadb-gtid:0-1-42 unchanged since the proof");
  });

  it("data completeness fails on a write after the proof, naming what moved, and when settle never ran", () => {
    const moved = entry("settle", "failed", { ok: false, action: "check", method: "account-lock", moved: ["position: mariadb-gtid:0-1-42 -> mariadb-gtid:0-1-43 (something committed after the proof)"] }, 5);
    const item = dataItem([verify, moved]);
    expect(item.pass).toBe(false);
    expect(item.evidence).toContain("✗ no write after the proof (settle): MOVED: position: mariadb-gtid:0-1-42 -> mariadb-gtid:0-1-43 (something committed after the proof)");
    expect(dataItem([verify]).evidence).toContain("✗ no write after the proof: not checked (no settle step in the timeline)");
  });
});
