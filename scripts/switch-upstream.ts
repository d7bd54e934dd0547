import { EXIT, interruptSignal, numberFlag, parseCli, runMain, signalExitCode } from "../lib/cli";
import { dsnFromEnv, parseDsn } from "../lib/dsn";
import { RollbackError } from "../lib/errors";
import { UpstreamKind, parseServerList } from "../lib/nginx-upstream";
import { readIfExists } from "../lib/traffic/atomic-file";
import { splitCommand } from "../lib/traffic/command";
import { type Probe, parseExpectation, parseProbeListen, parseProbeUrl } from "../lib/traffic/probe";
import { emit, required, say, usage } from "../lib/traffic/script";
import { DEFAULT_RELOAD_CMD, DEFAULT_TEST_CMD, switchUpstream } from "../lib/traffic/switch-upstream";

const USAGE = `
usage: switch-upstream.ts --file F --name N --servers SERVERS [--kind http|stream]
                          [--test-cmd CMD] [--reload-cmd CMD] [--dump-cmd CMD]
                          [--probe-url URL --probe-expect header:NAME=VALUE|body:TEXT]
                          [--probe-mysql HOST:PORT [--probe-credentials FILE]] [--probe-timeout SECONDS (10)]
                          [--command-timeout SECONDS (60)] [--json]

Points the nginx upstream N in file F at SERVERS: checks that nginx's configuration includes F
(the dump command lists its files) and that F holds only upstream blocks, writes the block
atomically (other blocks in F are kept), runs the test command, the reload command, then the
probe. If any of them fails, the previous F is put back (and reloaded) and the exit is 1.

  --servers   host:port[ params][,host:port[ params]...]; params: weight=N max_fails=N
              fail_timeout=N[s] backup, e.g. "10.0.0.5:3306 weight=3,10.0.0.6:3306 backup"
  --kind      http (default) or stream (a TCP upstream, e.g. in front of MySQL)
  --test-cmd  default "${DEFAULT_TEST_CMD}"; --reload-cmd default "${DEFAULT_RELOAD_CMD}";
              --dump-cmd default: the test command with its -t turned into -T.
              Run WITHOUT a shell: split on spaces, quotes group words, no expansion;
              an unquoted | & ; < > ( ) $ \` is refused (use sh -c '...' if you need a shell).
  Proof that traffic moved (retried up to --probe-timeout: old workers answer for a moment):
  --probe-url URL --probe-expect E   http: a GET through nginx must answer with E, e.g.
              header:X-Backend=idc (a header the new backends set) or body:TEXT.
  --probe-mysql HOST:PORT            stream: a MySQL connection to nginx's listen address must
              land on a primary of SERVERS (compared by @@hostname, @@port, @@server_id, which
              the tool first asks each server directly). Credentials: PROBE_DATABASE_URL
              (mysql://user:pass@host:port/db; only user and password are used), or
              --probe-credentials FILE holding that URL (over SSH, where env does not travel).
  Without a probe the switch is done but its report says "effect unproven".

Ctrl-C / SIGTERM: the running command is ended, the previous F put back (re-tested and reloaded
if a reload had started), the lock removed; exit 130 / 143. A second copy on the same F is
refused while the first holds F.lock (FILE_LOCKED).

exit: 0 switched, 1 test, reload or probe failed and the previous file is back, 2 bad input or
the restore failed too (look at the file and nginx now), 130/143 interrupted and put back.
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    file: { type: "string" },
    name: { type: "string" },
    servers: { type: "string" },
    kind: { type: "string", default: "http" },
    "test-cmd": { type: "string", default: DEFAULT_TEST_CMD },
    "reload-cmd": { type: "string", default: DEFAULT_RELOAD_CMD },
    "dump-cmd": { type: "string" },
    "probe-url": { type: "string" },
    "probe-expect": { type: "string" },
    "probe-mysql": { type: "string" },
    "probe-credentials": { type: "string" },
    "probe-timeout": { type: "string" },
    "command-timeout": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const kind = values.kind as UpstreamKind;
  if (kind !== "http" && kind !== "stream") throw new RollbackError("ARGS_INVALID", "--kind", `"${values.kind}" is not http or stream`);
  // Everything is parsed and validated here, before switchUpstream writes a byte.
  const upstream = { name: required(values.name, "name"), kind, servers: parseServerList(required(values.servers, "servers")) };
  const probe = await probeFrom(kind, values);
  const signal = interruptSignal(say);
  const report = await switchUpstream({
    file: required(values.file, "file"),
    upstream,
    testCmd: splitCommand(values["test-cmd"], "--test-cmd"),
    reloadCmd: splitCommand(values["reload-cmd"], "--reload-cmd"),
    dumpCmd: values["dump-cmd"] === undefined ? undefined : splitCommand(values["dump-cmd"], "--dump-cmd"),
    probe,
    probeTimeoutMs: numberFlag(values["probe-timeout"], "probe-timeout", 10, 1, 600) * 1000,
    commandTimeoutMs: numberFlag(values["command-timeout"], "command-timeout", 60, 1, 3600) * 1000,
    signal,
    log: say,
  });
  say(
    report.ok
      ? `switched: upstream ${report.name} -> ${report.servers}; ${report.effect.note}`
      : `NOT switched (${report.outcome}): ${report.problem}`,
  );
  emit(values.json, report);
  if (report.outcome === "interrupted") return signalExitCode(signal.reason as NodeJS.Signals);
  return report.outcome === "switched" ? EXIT.ok : report.outcome === "rolled-back" ? EXIT.failed : EXIT.error;
});

/** The probe the flags describe; a probe of the wrong kind for the upstream is refused. */
async function probeFrom(kind: UpstreamKind, v: { "probe-url"?: string; "probe-expect"?: string; "probe-mysql"?: string; "probe-credentials"?: string }): Promise<Probe | undefined> {
  if (v["probe-mysql"] !== undefined) {
    if (kind !== "stream") throw new RollbackError("ARGS_INVALID", "--probe-mysql", "is the probe of a stream upstream", "for --kind http use --probe-url and --probe-expect");
    const file = v["probe-credentials"];
    // The file's path, never its text, names the error: the text holds a password.
    const dsn = file === undefined ? dsnFromEnv("PROBE_DATABASE_URL") : parseDsn(((await readIfExists(file)) ?? missing(file)).trim(), file);
    return { kind: "mysql", listen: parseProbeListen(v["probe-mysql"]), user: dsn.user, password: dsn.password };
  }
  if (v["probe-url"] === undefined && v["probe-expect"] === undefined) return undefined;
  if (kind !== "http") throw new RollbackError("ARGS_INVALID", "--probe-url", "is the probe of an http upstream", "for --kind stream use --probe-mysql");
  return { kind: "http", url: parseProbeUrl(required(v["probe-url"], "probe-url")), expect: parseExpectation(required(v["probe-expect"], "probe-expect")) };
}

function missing(file: string): never {
  throw new RollbackError("FILE_UNREADABLE", file, "does not exist", "write the probe's mysql:// URL there (mode 0600), or set PROBE_DATABASE_URL");
}
