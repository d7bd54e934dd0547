import { EXIT, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { parseCanaryTable, parseHttpUrl, runHealth } from "../lib/traffic/health";
import { emit, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: health.ts [--mysql] [--expect-writable] [--max-replica-lag-s N]
                 [--canary-table T] [--create-canary]
                 [--http URL ...] [--expect-status N] [--expect-body TEXT] [--max-latency-ms N]
                 [--disk PATH ...] [--min-disk-free-pct N (10)] [--min-mem-free-mb N] [--json]
env:   DATABASE_URL (for --mysql, --canary-table)

Runs every check asked for and reports each pass/fail with its evidence:
  --mysql               MySQL answers: version, read_only, replication state
  --expect-writable     ... and fail when it is read_only / super_read_only
  --max-replica-lag-s   ... and fail unless it is a replica, both threads running, lag <= N
  --canary-table T      write, read back and delete a row in T (id VARCHAR(64) PRIMARY KEY,
                        written_at DATETIME(6), writer VARCHAR(255)); --create-canary creates T
  --http URL            GET (repeatable); 2xx or --expect-status, --expect-body substring,
                        --max-latency-ms; redirects are not followed
  --disk PATH           free space on PATH's filesystem (repeatable) >= --min-disk-free-pct
  --min-mem-free-mb N   MemAvailable >= N MB

exit: 0 every check passed, 1 a check failed, 2 bad input.
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    mysql: { type: "boolean", default: false },
    "expect-writable": { type: "boolean", default: false },
    "max-replica-lag-s": { type: "string" },
    "canary-table": { type: "string" },
    "create-canary": { type: "boolean", default: false },
    http: { type: "string", multiple: true },
    "expect-status": { type: "string" },
    "expect-body": { type: "string" },
    "max-latency-ms": { type: "string" },
    disk: { type: "string", multiple: true },
    "min-disk-free-pct": { type: "string" },
    "min-mem-free-mb": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const optional = (flag: keyof typeof values, min = 0, max?: number) => {
    const v = values[flag];
    return typeof v === "string" ? numberFlag(v, flag, 0, min, max) : undefined;
  };
  const canaryTable = values["canary-table"] === undefined ? undefined : parseCanaryTable(values["canary-table"]);
  const report = await runHealth({
    // runHealth says DATABASE_URL is missing when a MySQL check needs it.
    dsn: process.env.DATABASE_URL ? dsnFromEnv("DATABASE_URL") : undefined,
    mysql: values.mysql,
    expectWritable: values["expect-writable"],
    maxReplicaLagS: optional("max-replica-lag-s"),
    canaryTable,
    createCanary: values["create-canary"],
    http: (values.http ?? []).map((u) => parseHttpUrl(u)),
    expectStatus: optional("expect-status", 100, 599),
    expectBody: values["expect-body"],
    maxLatencyMs: optional("max-latency-ms", 1),
    disks: values.disk,
    minDiskFreePct: optional("min-disk-free-pct", 0, 100),
    minMemFreeMb: optional("min-mem-free-mb"),
  });
  for (const c of report.checks) {
    say(`${c.ok ? "PASS" : "FAIL"} ${c.check} ${c.target} (${c.durationMs} ms)${c.problem ? `: ${c.problem}` : ""}`);
  }
  say(`health: ${report.passed} passed, ${report.failed} failed`);
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
