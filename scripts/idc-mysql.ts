import { EXIT, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { RollbackError } from "../lib/errors";
import { parseContainerName } from "../lib/traffic/docker";
import { checkIdcMysql, restartIdcMysql } from "../lib/traffic/idc-mysql";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: idc-mysql.ts check|restart --container NAME [--timeout SECONDS (120)] [--force]
                    [--stop-timeout SECONDS (60)] [--poll-ms N (1000)] [--json]
env:   DATABASE_URL (optional: also require that MySQL answers there)
       DOCKER_HOST  (optional: the docker CLI's own setting, e.g. ssh://admin@idc-db-1)

check    the container's docker state and health (and MySQL at DATABASE_URL); changes nothing.
restart  restarts the container when it is not healthy (exited, unhealthy, dead; unpauses a
         paused one; waits when docker is already restarting it), or always with --force; then
         waits until it is running, healthy and MySQL answers, up to --timeout. A container that
         is healthy but does not answer at DATABASE_URL is not restarted (that is the network).

exit: 0 ready, 1 not ready (or not healthy, for check), 2 error (no such container, docker
unreachable, bad input).
`;

runMain(async (argv) => {
  const { values, positionals } = parseCli(
    argv,
    {
      container: { type: "string" },
      timeout: { type: "string" },
      force: { type: "boolean", default: false },
      "stop-timeout": { type: "string" },
      "poll-ms": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    true,
  );
  if (values.help) return usage(USAGE);
  const verb = positionals[0];
  if (positionals.length !== 1 || (verb !== "check" && verb !== "restart")) {
    throw new RollbackError("ARGS_INVALID", "verb", `expected check or restart (got "${positionals.join(" ")}")`, "run with --help");
  }
  if (verb === "check" && values.force) throw new RollbackError("ARGS_INVALID", "--force", "only applies to restart");
  const opts = {
    container: parseContainerName(required(values.container, "container")),
    dsn: process.env.DATABASE_URL ? dsnFromEnv("DATABASE_URL") : undefined,
    timeoutS: numberFlag(values.timeout, "timeout", 120, 1, 86_400),
    force: values.force,
    stopTimeoutS: numberFlag(values["stop-timeout"], "stop-timeout", 60, 0, 3_600),
    pollMs: numberFlag(values["poll-ms"], "poll-ms", 1_000, 10, 60_000),
    log: say,
  };
  const report = verb === "check" ? await checkIdcMysql(opts) : await restartIdcMysql(opts);
  if (report.problem) say(`idc-mysql: ${report.problem}`);
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});
