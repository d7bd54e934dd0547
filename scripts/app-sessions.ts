import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { awaitAppSessions } from "../lib/traffic/app-sessions";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: app-sessions.ts --users a,b --timeout SECONDS [--expect-target] [--poll-ms N (1000)] [--json]
env:   SOURCE_DATABASE_URL (the side being left), TARGET_DATABASE_URL (the side going live);
       the user needs the PROCESS privilege on both

Proves the app moved after its connection secret changed and it was recycled: waits until no
session of the app's accounts (--users) is left on the source (with --expect-target: and one is
on the target; a lazy pool under maintenance has none), and says where each side's sessions
come from.

exit: 0 moved, 1 sessions still on the source (or, with --expect-target, none on the target) at
the timeout, 2 error.
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    users: { type: "string" },
    timeout: { type: "string" },
    "expect-target": { type: "boolean", default: false },
    "poll-ms": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const report = await awaitAppSessions({
    source: dsnFromEnv("SOURCE_DATABASE_URL"),
    target: dsnFromEnv("TARGET_DATABASE_URL"),
    users: listFlag(required(values.users, "users")) ?? [],
    timeoutS: numberFlag(required(values.timeout, "timeout"), "timeout", 0, 0, 86_400),
    expectTarget: values["expect-target"],
    pollMs: numberFlag(values["poll-ms"], "poll-ms", 1000, 10, 60_000),
    log: say,
  });
  say(
    report.ok
      ? `app sessions: none left on ${report.source.server}, ${report.target.sessions} on ${report.target.server} (after ${report.waitedMs} ms)`
      : `app sessions: ${report.source.sessions} still on ${report.source.server} (${report.source.hosts.join(", ") || "-"}), ${report.target.sessions} on ${report.target.server} after ${report.timeoutS} s`,
  );
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
