import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { describeBlocker, drain } from "../lib/traffic/drain";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: drain.ts --timeout SECONDS [--kill] [--ignore-users a,b] [--poll-ms N (500)] [--json]
env:   DATABASE_URL=mysql://user:pass@host:port/db   (the user needs the PROCESS privilege)

Waits until no application transaction is open: no other client session holds an InnoDB
transaction or is running a statement (idle pooled sessions, system threads, replication and
RDS's rdsadmin are ignored). On timeout lists the blockers (id, user, host, age, statement
prefix); with --kill kills them (KILL CONNECTION, or mysql.rds_kill on RDS) and waits for
their rollback.

exit: 0 drained (or every blocker killed and gone), 1 blockers remain, 2 error.
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    timeout: { type: "string" },
    kill: { type: "boolean", default: false },
    "ignore-users": { type: "string" },
    "poll-ms": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const timeoutS = numberFlag(required(values.timeout, "timeout"), "timeout", 0, 0, 86_400);
  const report = await drain({
    dsn: dsnFromEnv("DATABASE_URL"),
    timeoutS,
    kill: values.kill,
    ignoreUsers: listFlag(values["ignore-users"]),
    pollMs: numberFlag(values["poll-ms"], "poll-ms", 500, 10, 60_000),
    log: say,
  });
  if (!report.ok) {
    say(`drain: ${report.remaining.length} blocker(s) remain on ${report.server}:`);
    for (const b of report.remaining) say(`  ${describeBlocker(b)}`);
  }
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
