import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runContext, stepCommandLine } from "../../components/command-line";
import { planStep } from "../../components/runbook/plan";
import { loadConfig } from "../../lib/config";
import { assertBuilt, projectRoot } from "../../lib/config/project";
import { isRollbackError } from "../../lib/errors";
import { ROOT, stackFile, useConfig } from "./harness";

/**
 * The runner as production installs it: a copy of the project, `npm ci --omit=dev` (from npm's
 * cache, the registry where it lacks a package), built with tsc, and a runbook command run as
 * the Runbook declares it, from the project root. Real npm, real node, no tsx.
 */
describe("a runner installed with npm ci --omit=dev", () => {
  let dir = "";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "rollback-omit-dev-"));
    for (const f of ["package.json", "package-lock.json", "Pulumi.yaml", "tsconfig.json", "index.ts", "components", "lib", "scripts"]) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    execFileSync("npm", ["ci", "--omit=dev", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir, stdio: "pipe" });
    // `npm run build` there: the typescript that @pulumi/pulumi brings (a production dependency),
    // with node's types borrowed from this checkout (@types/node is a devDependency).
    execFileSync(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json", "--typeRoots", join(ROOT, "node_modules", "@types")], { cwd: dir, stdio: "pipe" });
  }, 600_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has no tsx, and runs a runbook step's command line from the project root, its timeline under .rollback/", () => {
    expect(existsSync(join(dir, "node_modules", "tsx"))).toBe(false);
    useConfig(stackFile("rollback"));
    const config = loadConfig();
    const flag = join(dir, "maintenance.flag");
    const plan = planStep("maintenance-on", { ...config, nginx: { ...config.nginx, maintenanceFlag: flag } });
    if (plan.kind !== "command") throw new Error("maintenance-on is a command step");
    // The program finds the root from its compiled location (dist/) when the engine names none.
    const run = runContext(projectRoot("rootDirectory", join(dir, "dist")), config.runbook.timelineDir, "r1");
    expect(run.projectDir).toBe(dir);
    const stdout = execFileSync("/bin/sh", ["-c", stepCommandLine("maintenance-on", run, plan.args)], { cwd: run.projectDir, encoding: "utf8" });
    expect(stdout).toMatch(/^step maintenance-on: ok \(exit 0\) in \d+ ms; details in \.rollback\/r1\/maintenance-on\.log/);
    expect(existsSync(flag)).toBe(true);
    const [entry] = readFileSync(join(dir, ".rollback", "r1", "timeline.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(entry).toMatchObject({ step: "maintenance-on", status: "ok", report: { maintenance: true } });
    expect(existsSync(join(dir, "dist", ".rollback"))).toBe(false);
  });

  it("refuses a build older than a source, naming the stale compiled file", () => {
    expect(() => assertBuilt(dir)).not.toThrow();
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, "lib", "runbook.ts"), later, later);
    let error: unknown;
    try {
      assertBuilt(dir);
    } catch (e) {
      error = e;
    }
    expect(isRollbackError(error) && error.message).toBe("BUILD_STALE: dist/lib/runbook.js: is older than lib/runbook.ts (run npm run build in the project root)");
    rmSync(join(dir, "dist", "scripts", "sync.js"));
    utimesSync(join(dir, "lib", "runbook.ts"), new Date(0), new Date(0));
    expect(() => assertBuilt(dir)).toThrow("BUILD_STALE: dist/scripts/sync.js: is missing (the compiled scripts/sync.ts)");
  });
});
