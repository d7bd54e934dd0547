import { describe, expect, it } from "vitest";
import { fenceRecord, planStep, plannedSteps } from "../../components/runbook/plan";
import { loadConfig } from "../../lib/config";
import { stackFile, useConfig } from "../pulumi/harness";

/** The fence in the runbook's plans (pure: config in, command arguments out). */
describe("the fence steps of both stacks", () => {
  const args = (step: "fence" | "unfence" | "proof-check" | "settle", stack: "rollback" | "cutover", edit?: (c: any) => void) => {
    const raw = stackFile(stack);
    edit?.(raw);
    useConfig(raw);
    const config = loadConfig();
    const plan = planStep(step, config);
    if (plan.kind !== "command") throw new Error(`${step} is not a command`);
    return { config, plan, env: Object.keys(plan.environment).sort() };
  };

  it("the rollback fences AWS right after maintenance-on, unfences IDC before the app moves, and settles before RDS stops", () => {
    useConfig(stackFile("rollback"));
    const steps = plannedSteps(loadConfig());
    expect(steps.indexOf("fence")).toBe(steps.indexOf("maintenance-on") + 1);
    expect(steps.indexOf("unfence")).toBe(steps.indexOf("connection-secret") - 1);
    expect(steps.indexOf("unfence")).toBeGreaterThan(steps.indexOf("verify"));
    expect(steps.indexOf("settle")).toBe(steps.indexOf("rds-power") - 1);
    expect(steps.indexOf("proof-check")).toBe(steps.indexOf("verify") + 1);

    const fence = args("fence", "rollback");
    expect(fence.plan.args).toEqual([
      "on", "--users", "shop_app,shop_worker", "--method", "account-lock",
      "--timeout", 30, "--quiet-s", 5, "--max-transaction-s", 60,
      "--record", ".rollback/fence-aws.json", "--json",
    ]);
    expect(fence.env).toEqual(["DATABASE_URL", "REPLICA_DATABASE_URL"]);
    expect(args("unfence", "rollback").plan.args).toEqual(["off", "--users", "shop_app,shop_worker", "--method", "account-lock", "--record", ".rollback/fence-idc.json", "--json"]);
    expect(args("settle", "rollback").plan.args).toEqual(["check", "--users", "shop_app,shop_worker", "--method", "account-lock", "--json"]);
    expect(args("proof-check", "rollback").plan.args).toEqual(["check", "--users", "shop_app,shop_worker", "--method", "account-lock", "--json"]);
  });

  it("the cutover fences IDC (nobody writes there while AWS is live) and lifts the rollback's fence on AWS", () => {
    const { config, plan } = args("fence", "cutover");
    expect(plan.args).toContain(fenceRecord(config, "idc"));
    expect(args("unfence", "cutover").plan.args).toContain(".rollback/fence-aws.json");
  });

  it("proof-check with resyncOnMove carries the sync's table and shrink flags and both databases; settle never re-syncs", () => {
    const edit = (c: any) => Object.assign(c["rollback:runbook"], { tables: ["orders"], cutoverProof: "/srv/cutover/timeline.jsonl", fence: { ...c["rollback:runbook"].fence, resyncOnMove: true } });
    expect(args("settle", "rollback", edit).plan.args).not.toContain("--resync-on-move");
    const s = args("proof-check", "rollback", (c) => Object.assign(c["rollback:runbook"], { tables: ["orders"], cutoverProof: "/srv/cutover/timeline.jsonl", fence: { ...c["rollback:runbook"].fence, resyncOnMove: true } }));
    expect(s.plan.args).toEqual([
      "check", "--users", "shop_app,shop_worker", "--method", "account-lock",
      "--resync-on-move", 2, "--tables", "orders", "--max-shrink-pct", 5, "--cutover-proof", "/srv/cutover/timeline.jsonl", "--json",
    ]);
    expect(s.env).toEqual(["DATABASE_URL", "SOURCE_DATABASE_URL", "TARGET_DATABASE_URL"]);
  });
});
