import { EXIT, numberFlag, parseCli, runMain } from "../lib/cli";
import { RollbackError } from "../lib/errors";
import { UpstreamKind, parseServerList } from "../lib/nginx-upstream";
import { splitCommand } from "../lib/traffic/command";
import { emit, required, say, usage } from "../lib/traffic/script";
import { DEFAULT_RELOAD_CMD, DEFAULT_TEST_CMD, switchUpstream } from "../lib/traffic/switch-upstream";

const USAGE = `
usage: switch-upstream.ts --file F --name N --servers SERVERS [--kind http|stream]
                          [--test-cmd CMD] [--reload-cmd CMD] [--command-timeout SECONDS (60)] [--json]

Points the nginx upstream N in file F at SERVERS: writes the block atomically (other blocks in F
are kept), runs the test command, then the reload command. If either fails, the previous F is
put back (and reloaded) and the exit is 1.

  --servers   host:port[ params][,host:port[ params]...]; params: weight=N max_fails=N
              fail_timeout=N[s] backup, e.g. "10.0.0.5:3306 weight=3,10.0.0.6:3306 backup"
  --kind      http (default) or stream (a TCP upstream, e.g. in front of MySQL)
  --test-cmd  default "${DEFAULT_TEST_CMD}"; --reload-cmd default "${DEFAULT_RELOAD_CMD}".
              Run WITHOUT a shell: split on spaces, quotes group words, no expansion;
              an unquoted | & ; < > ( ) $ \` is refused (use sh -c '...' if you need a shell).

exit: 0 switched, 1 test or reload failed and the previous file is back, 2 bad input or the
restore failed too (look at the file and nginx now).
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    file: { type: "string" },
    name: { type: "string" },
    servers: { type: "string" },
    kind: { type: "string", default: "http" },
    "test-cmd": { type: "string", default: DEFAULT_TEST_CMD },
    "reload-cmd": { type: "string", default: DEFAULT_RELOAD_CMD },
    "command-timeout": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const kind = values.kind as UpstreamKind;
  if (kind !== "http" && kind !== "stream") throw new RollbackError("ARGS_INVALID", "--kind", `"${values.kind}" is not http or stream`);
  // Everything is parsed and validated here, before switchUpstream writes a byte.
  const report = await switchUpstream({
    file: required(values.file, "file"),
    upstream: { name: required(values.name, "name"), kind, servers: parseServerList(required(values.servers, "servers")) },
    testCmd: splitCommand(values["test-cmd"], "--test-cmd"),
    reloadCmd: splitCommand(values["reload-cmd"], "--reload-cmd"),
    commandTimeoutMs: numberFlag(values["command-timeout"], "command-timeout", 60, 1) * 1000,
    log: say,
  });
  say(report.ok ? `switched: upstream ${report.name} -> ${report.servers}` : `NOT switched (${report.outcome}): ${report.problem}`);
  emit(values.json, report);
  return report.outcome === "switched" ? EXIT.ok : report.outcome === "rolled-back" ? EXIT.failed : EXIT.error;
});

