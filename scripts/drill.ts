import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { EXIT, numberFlag, parseCli, runMain } from "../lib/cli";
import { runDrill } from "../lib/drill";
import { SCENARIOS, scenarioByName } from "../lib/drill/scenarios";
import { liveView, silentView } from "../lib/drill/view";
import { RollbackError } from "../lib/errors";
import { serverBinaries } from "../lib/sandbox/binaries";
import { SandboxFlavor, defaultFlavor } from "../lib/sandbox/server";
import { formatDuration } from "../lib/progress";

const USAGE = `usage: npx tsx scripts/drill.ts [--flavor mariadb|mysql] [--rows N] [--scenario NAME] [--users-seconds N] [--out DIR] [--json]

Rehearses a rollback end to end on this machine (plan §10, R11): throw-away IDC (+09:00) and AWS
(+00:00) servers (--flavor: MariaDB, the default, or Oracle MySQL 9.7 from scripts/setup-mysql.sh
on both sides), nginx, a demo app behind it; N orders loaded into IDC (--rows, default
20000) and backed up; the cut-over to AWS; users writing on AWS; a decision; then the rollback
runbook while users keep calling the app; the §6 checks and the report (in --out, default
.rollback/drill-<scenario>). --json prints one JSON report on stdout; otherwise a live view on stderr.
Optional env ROLLBACK_WEBHOOK_URL: a Slack-compatible webhook for the notifications (a secret).

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.rehearses}`).join("\n")}

Exit 0 when the drill succeeded (rolled back, nothing lost, checklist passed, the scenario's
detection and outcome observed), 1 when it did not, 2 on error.`;

/** What the drill runs from the machine: named up front, with the way to get them. */
async function checkTools(flavor: SandboxFlavor): Promise<void> {
  const onPath = async (name: string) => {
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (await access(join(dir, name), constants.X_OK).then(() => true, () => false)) return true;
    }
    return false;
  };
  const file = (path: string) => access(path, constants.X_OK).then(() => true, () => false);
  const missing: string[] = [];
  if (flavor === "mysql") {
    // Throws, naming scripts/setup-mysql.sh, when the sid chroot is not prepared.
    serverBinaries("mysql");
  } else {
    if (!(await file(process.env.MARIADBD ?? "/usr/sbin/mariadbd"))) missing.push("mariadbd (mariadb-server)");
    for (const tool of ["mariadb-install-db", "mariadb-dump"]) if (!(await onPath(tool))) missing.push(`${tool} (mariadb-server / mariadb-client)`);
  }
  if (!(await file(process.env.NGINX ?? "/usr/sbin/nginx"))) missing.push("nginx (nginx-light)");
  if (missing.length) {
    throw new RollbackError("TOOLS_MISSING", missing.join(", "), "not installed", "run `bash scripts/setup.sh` as root, or apt-get install mariadb-server mariadb-client nginx-light");
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, {
    flavor: { type: "string" },
    rows: { type: "string" },
    scenario: { type: "string" },
    "users-seconds": { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean" },
  });
  if (values.help) {
    process.stderr.write(USAGE + "\n");
    return EXIT.ok;
  }
  const rows = numberFlag(values.rows, "rows", 20_000, 100);
  if (!Number.isInteger(rows)) throw new RollbackError("ARGS_INVALID", "--rows", "must be a whole number");
  const scenario = scenarioByName(values.scenario ?? "default").name;
  const flavor = values.flavor ?? defaultFlavor();
  if (flavor !== "mariadb" && flavor !== "mysql") throw new RollbackError("ARGS_INVALID", "--flavor", `must be mariadb or mysql (got ${flavor})`);
  await checkTools(flavor);
  // Every server the drill starts (lib/sandbox defaultFlavor) and every script it runs (the
  // backup's client tools) follow ROLLBACK_FLAVOR; MySQL's client tools live in the chroot.
  process.env.ROLLBACK_FLAVOR = flavor;
  if (flavor === "mysql") process.env.ROLLBACK_TOOLS_DIR ??= serverBinaries("mysql").toolsDir;
  const view = values.json ? silentView() : liveView();
  // Ctrl-C: stop the servers, nginx and apps the drill started (nginx runs in its own process
  // group, so the terminal's SIGINT does not reach it), then exit as interrupted.
  let stop: (() => Promise<void>) | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\ndrill: ${signal}: stopping what it started\n`);
      void (stop?.() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const result = await runDrill({
    onStarted: (s) => (stop = s),
    rows,
    scenario,
    out: values.out ?? join(".rollback", `drill-${scenario}`),
    view,
    usersSeconds: numberFlag(values["users-seconds"], "users-seconds", 5, 1),
    webhookUrl: process.env.ROLLBACK_WEBHOOK_URL || undefined,
    quiet: values.json,
  });
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
  } else {
    view.stage(`drill ${result.ok ? "OK" : "NOT OK"} in ${formatDuration(result.durationMs)}`);
    for (const line of [
      ...result.phases.map((p) => `${p.id}: ${formatDuration(p.durationMs)} of ${formatDuration(p.budgetMs)} (${p.status})`),
      `rows: ${result.rows.synced} synced back, ${result.rows.lost} lost of ${result.rows.checked} acknowledged writes checked`,
      `verification: ${result.verification.identical ? "identical" : "NOT identical"} (mismatch ${result.verification.mismatchPct ?? "?"} %)`,
      `clients: ${result.clients.requests} requests, ${result.clients.errors} errors, ${result.clients.maintenance503} maintenance 503s, ${formatDuration(result.clients.downtimeMs)} without service`,
      `decision: ${result.decision.rollback ? "roll back" : "stay"} — ${result.decision.reasons.join("; ")}`,
      ...result.scenario.detection.map((d) => `detected: ${d}`),
      ...result.scenario.outcome.map((d) => `outcome: ${d}`),
      ...result.scenario.unmet.map((d) => `UNMET: ${d}`),
      `report: ${result.files.reportMd}`,
    ]) {
      view.info(line);
    }
  }
  return result.ok ? EXIT.ok : EXIT.failed;
}

runMain(main);
