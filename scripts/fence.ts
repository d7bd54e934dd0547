import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { RollbackError } from "../lib/errors";
import { parseUsers } from "../lib/fence/accounts";
import { FenceReport, fenceOff, fenceOn, fenceStatus } from "../lib/fence/fence";
import { FENCE_METHODS, FenceMethod, readRecord } from "../lib/fence/record";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: fence.ts on|off|status|check --users U1,U2 [--method account-lock|read-only]
                [--timeout S (30)] [--position P] [--record FILE] [--poll-ms N (200)] [--json]
env:   DATABASE_URL=mysql://admin:pass@host:port/db   (an admin account, never one of --users)

Stops the application accounts from writing on this server, whatever path they come by.
  on      account-lock: ALTER USER … ACCOUNT LOCK for every host entry of each name (or the
          name@host given), waits up to --timeout for their open transactions, then kills every
          session of those accounts (KILL, or mysql.rds_kill on RDS) and lists the killed ones.
          read-only: the same wait and kill, then SET GLOBAL read_only (+ super_read_only on
          MySQL); refused on RDS (a parameter-group setting). Idempotent. Prints the commit
          position right after the fence holds (GTID set or binlog file:pos, and which).
  off     lifts exactly what on recorded in --record (an account locked before stays locked).
  status  fenced or not, and the sessions of those accounts still open (exit 0 / 1).
  check   exit 0 only when the fence holds, no session of those accounts is open and the commit
          position equals --position (default: the one --record holds); else exit 1 naming
          what moved.
--record FILE is required for on and off: the durable record of what on changed.

exit: 0 ok, 1 the fence does not hold / something moved, 2 error.
`;

runMain(async (argv) => {
  const { values, positionals } = parseCli(
    argv,
    {
      users: { type: "string" },
      method: { type: "string", default: "account-lock" },
      timeout: { type: "string" },
      position: { type: "string" },
      record: { type: "string" },
      "poll-ms": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    true,
  );
  if (values.help) return usage(USAGE);
  const action = positionals[0];
  if (positionals.length !== 1 || !["on", "off", "status", "check"].includes(action)) {
    throw new RollbackError("ARGS_INVALID", "action", `expected one of on, off, status, check (got ${positionals.join(" ") || "none"})`, "run with --help");
  }
  if (!FENCE_METHODS.includes(values.method as FenceMethod)) {
    throw new RollbackError("ARGS_INVALID", "--method", `expected ${FENCE_METHODS.join(" or ")}, got "${values.method}"`);
  }
  const opts = {
    dsn: dsnFromEnv("DATABASE_URL"),
    users: parseUsers(listFlag(required(values.users, "users")) ?? []),
    method: values.method as FenceMethod,
    recordPath: values.record,
    timeoutS: numberFlag(values.timeout, "timeout", 30),
    pollMs: numberFlag(values["poll-ms"], "poll-ms", 200, 10),
    log: say,
  };
  let report: FenceReport;
  if (action === "on") report = await fenceOn(opts);
  else if (action === "off") report = await fenceOff(opts);
  else if (action === "status") report = await fenceStatus(opts);
  else {
    const expected = values.position ?? (values.record ? (await readRecord(values.record))?.position ?? undefined : undefined);
    if (!expected) throw new RollbackError("ARGS_MISSING", "--position", "check needs the position to compare with", "pass --position <verify's sourcePosition>, or --record of a fence that holds one");
    report = await fenceStatus(opts, expected);
    for (const m of report.moved ?? []) say(`fence check: MOVED ${m}`);
    if (report.ok) say(`fence check: holds on ${report.server}; position ${expected} unchanged; no session open`);
  }
  if (action === "status") say(`fence: ${report.fenced ? "on" : "off"} on ${report.server}; ${report.sessions.length} session(s) of those accounts open`);
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
