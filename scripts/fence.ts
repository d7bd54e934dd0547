import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { syncDatabases } from "../lib/data";
import { DEFAULT_MAX_SHRINK_PCT, DEFAULT_MIN_SHRINK_ROWS, loadCutoverProof } from "../lib/data/guard";
import { RollbackError } from "../lib/errors";
import { formatPosition } from "../lib/flavor";
import { DEFAULT_GUARDRAILS } from "../lib/guardrails";
import { parseUsers } from "../lib/fence/accounts";
import { FenceReport, fenceOff, fenceOn, fenceStatus } from "../lib/fence/fence";
import { FENCE_METHODS, FenceMethod, readRecord } from "../lib/fence/record";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: fence.ts on|off|status|check --users U1,U2 [--method account-lock|read-only]
                [--timeout S (30)] [--position P] [--record FILE] [--poll-ms N (200)] [--json]
                on: [--skip-guardrails] [--max-transaction-s S (60)] [--quiet-s S (5)]
                    [--max-replica-lag-s S (0)] [--guard-wait S (0)]
env:   DATABASE_URL=mysql://admin:pass@host:port/db   (an admin account, never one of --users)
       REPLICA_DATABASE_URL=mysql://…  (optional, IDC: its replication is a guardrail)

Stops the application accounts from writing on this server, whatever path they come by.
  on      account-lock: ALTER USER … ACCOUNT LOCK for every host entry of each name (or the
          name@host given), waits up to --timeout for their open transactions, then kills every
          session of those accounts (KILL, or mysql.rds_kill on RDS) and lists the killed ones.
          read-only: the same wait and kill, then SET GLOBAL read_only (+ super_read_only on
          MySQL); refused on RDS (a parameter-group setting). Idempotent. Prints the commit
          position right after the fence holds (GTID set or binlog file:pos, and which).
          First the guardrails, each with value and threshold (a refusal changes nothing,
          exit 1): no transaction older than --max-transaction-s, no DDL running or waiting on
          a metadata lock, no rows written by accounts outside --users during --quiet-s
          (performance_schema counters; "not measured" where it is off), IDC's replica (when
          REPLICA_DATABASE_URL is set) stopped or caught up. --guard-wait re-measures up to S.
  off     lifts exactly what on recorded in --record (an account locked before stays locked).
  status  fenced or not, and the sessions of those accounts still open (exit 0 / 1).
  check   exit 0 only when the fence holds, no session of those accounts is open and the commit
          position equals P; else exit 1 naming what moved. P: --position, else the
          sourcePosition of --position-from FILE (a verify --json report or a run's timeline:
          its last successful verify), else that of env ROLLBACK_TIMELINE (step.ts sets it),
          else the position --record holds.
          --resync-on-move N: when only the position moved, sync SOURCE_DATABASE_URL ->
          TARGET_DATABASE_URL once more (with --tables/--exclude/--max-shrink-pct/
          --allow-shrink/--cutover-proof as sync.ts takes them), take its verify's position and
          check again, at most N times.
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
      "skip-guardrails": { type: "boolean", default: false },
      "max-transaction-s": { type: "string" },
      "quiet-s": { type: "string" },
      "max-replica-lag-s": { type: "string" },
      "guard-wait": { type: "string" },
      "position-from": { type: "string" },
      "resync-on-move": { type: "string" },
      tables: { type: "string" },
      exclude: { type: "string" },
      "max-shrink-pct": { type: "string" },
      "allow-shrink": { type: "string" },
      "cutover-proof": { type: "string" },
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
    guardrails: values["skip-guardrails"]
      ? undefined
      : {
          thresholds: {
            maxTransactionS: numberFlag(values["max-transaction-s"], "max-transaction-s", DEFAULT_GUARDRAILS.maxTransactionS),
            maxReplicaLagS: numberFlag(values["max-replica-lag-s"], "max-replica-lag-s", DEFAULT_GUARDRAILS.maxReplicaLagS),
          },
          windowS: numberFlag(values["quiet-s"], "quiet-s", 5),
          waitS: numberFlag(values["guard-wait"], "guard-wait", 0),
          replicaDsn: process.env.REPLICA_DATABASE_URL ? dsnFromEnv("REPLICA_DATABASE_URL") : undefined,
        },
    log: say,
  };
  let report: FenceReport;
  if (action === "on") report = await fenceOn(opts);
  else if (action === "off") report = await fenceOff(opts);
  else if (action === "status") report = await fenceStatus(opts);
  else {
    const proofFile = values["position-from"] ?? (values.position ? undefined : process.env.ROLLBACK_TIMELINE);
    const proof = proofFile ? await loadCutoverProof(proofFile) : undefined;
    let since = proof?.sourceBinlog ?? null;
    let expected = values.position ?? proof?.sourcePosition ?? undefined;
    expected ??= values.record ? (await readRecord(values.record))?.position ?? undefined : undefined;
    if (!expected) throw new RollbackError("ARGS_MISSING", "--position", "check needs the position to compare with", "pass --position <verify's sourcePosition>, --position-from <verify report or timeline>, or --record of a fence that holds one");
    report = await fenceStatus(opts, expected, since);
    const rounds = numberFlag(values["resync-on-move"], "resync-on-move", 0);
    // Only a moved position is re-synced: an open session or an unlocked account is a broken
    // fence, and syncing past it would race the writer.
    for (let round = 1; round <= rounds && !report.ok && report.moved!.every((m) => m.startsWith("position: ") && !m.includes("cannot be read")); round++) {
      say(`fence check: ${report.moved![0]}; re-sync ${round} of ${rounds}`);
      const sync = await syncDatabases({
        source: dsnFromEnv("SOURCE_DATABASE_URL"),
        target: dsnFromEnv("TARGET_DATABASE_URL"),
        tables: listFlag(values.tables),
        exclude: listFlag(values.exclude),
        maxShrinkPct: numberFlag(values["max-shrink-pct"], "max-shrink-pct", DEFAULT_MAX_SHRINK_PCT),
        minShrinkRows: DEFAULT_MIN_SHRINK_ROWS,
        allowShrink: listFlag(values["allow-shrink"]),
        cutoverProof: values["cutover-proof"] ? await loadCutoverProof(values["cutover-proof"]) : undefined,
      });
      const proven = sync.identical ? sync.verify?.sourcePosition : null;
      if (!proven) {
        say(`fence check: the re-sync did not prove the sides identical (${sync.identical ? "no provable position" : "they differ"}); stopping`);
        break;
      }
      expected = formatPosition(proven);
      since = proven.file && proven.pos !== null ? { file: proven.file, pos: proven.pos } : null;
      report = { ...(await fenceStatus(opts, expected, since)), resynced: round };
    }
    for (const m of report.moved ?? []) say(`fence check: MOVED ${m}`);
    if (report.ok) say(`fence check: holds on ${report.server}; ${report.positionNote ? `position ${report.positionNote}` : `position ${expected} unchanged`}; no session open`);
  }
  if (action === "status") say(`fence: ${report.fenced ? "on" : "off"} on ${report.server}; ${report.sessions.length} session(s) of those accounts open`);
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
