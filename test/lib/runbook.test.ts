import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PHASES, STEPS, budgetMs, phaseOf } from "../../lib/runbook";

describe("the runbook definition", () => {
  const index = (id: string) => STEPS.findIndex((s) => s.id === id);

  it("moves no traffic before verify", () => {
    for (const s of STEPS.filter((x) => x.movesTraffic)) expect(index(s.id)).toBeGreaterThan(index("verify"));
  });

  it("puts preflight first and maintenance on next, syncs before it verifies, and stops RDS only after maintenance is lifted", () => {
    expect(STEPS.slice(0, 2).map((s) => s.id)).toEqual(["preflight", "maintenance-on"]);
    expect(index("sync")).toBeLessThan(index("verify"));
    expect(index("rds-power")).toBeGreaterThan(index("maintenance-off"));
    expect(STEPS.at(-1)?.id).toBe("report");
  });

  it("keeps phases contiguous, in plan order, with the plan's budgets (15, 15, 30 min)", () => {
    const order = STEPS.map((s) => PHASES.findIndex((p) => p.id === s.phase));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(PHASES.map((p) => budgetMs(p.id) / 60_000)).toEqual([15, 15, 30]);
    expect(phaseOf("sync").id).toBe("data-sync");
  });

  it("names only scripts that exist", () => {
    for (const s of STEPS.filter((x) => x.script)) expect(existsSync(s.script!), s.script).toBe(true);
  });
});
