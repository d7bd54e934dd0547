import { resolve } from "node:path";
import { EXIT, listFlag, parseCli, runMain } from "../lib/cli";
import { RollbackError } from "../lib/errors";
import { CHECK_IDS, type CheckId, type PreflightInputs, formatReport, parseInputs, preflightInputs, runPreflight } from "../lib/preflight";
import { emit, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: preflight.ts (--stack NAME [--project-dir DIR] | --inputs-json JSON)
                    [--only CHECK,...] [--on-nginx-host] [--json]
env:   IDC_DATABASE_URL, AWS_DATABASE_URL  mysql://user:pass@host:port/db[?ssl-mode=...], as
       the runbook builds them from rollback:idc / rollback:aws; AWS credentials as for the
       AWS CLI (the SDK's default chain); the docker CLI for the IDC docker host.

Checks, changing nothing, every assumption a later step depends on:
  databases          both answer with their URL's credentials and TLS, the URLs name the
                     configured endpoints, and they are two servers (@@server_uuid / hostname,
                     port, server_id differ)
  nginx              test/reload/dump commands parse as switch-upstream parses them; nginx -T
                     lists the upstream file; the file's and the maintenance flag's folders are
                     writable (over SSH: not checked here; run this with --on-nginx-host there)
  connection-secret  the Secrets Manager secret / SSM SecureString exists and is readable; an
                     SSM parameter keeps its KMS key when the stack rewrites it
  route53            no other record at the name that refuses or outweighs the weighted pair
  rds                the instance exists and rds-power can take it from its state to the target's
  docker             the IDC docker host answers and has the container
  backups            at least one of runbook.backupPaths exists

--stack NAME reads Pulumi.NAME.yaml in --project-dir (default: this project) and validates it as
\`pulumi up\` does; secure values stay encrypted (the URLs above carry the passwords).
--inputs-json is what the runbook's preflight step passes (the same values, resolved by Pulumi).
Ctrl-C stops it at once: it has changed nothing.

exit: 0 no problem (checks that could not look are listed), 1 a problem, 2 bad input.
`;

runMain(async (argv) => {
  const { values } = parseCli(argv, {
    stack: { type: "string" },
    "project-dir": { type: "string" },
    "inputs-json": { type: "string" },
    only: { type: "string" },
    "on-nginx-host": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return usage(USAGE);
  const only = listFlag(values.only)?.map((id) => {
    if (!(CHECK_IDS as string[]).includes(id)) throw new RollbackError("ARGS_INVALID", "--only", `"${id}" is not a check`, `checks: ${CHECK_IDS.join(", ")}`);
    return id as CheckId;
  });
  const report = await runPreflight(await inputsFrom(values), { env: process.env, only, onNginxHost: values["on-nginx-host"] });
  for (const line of formatReport(report)) say(line);
  emit(values.json, report);
  return report.ok ? EXIT.ok : EXIT.failed;
});

async function inputsFrom(v: { stack?: string; "project-dir"?: string; "inputs-json"?: string }): Promise<PreflightInputs> {
  if ((v.stack === undefined) === (v["inputs-json"] === undefined)) {
    throw new RollbackError("ARGS_INVALID", "--stack", "give exactly one of --stack NAME and --inputs-json JSON", "run with --help");
  }
  if (v["inputs-json"] !== undefined) return parseInputs(v["inputs-json"]);
  // Loaded only for --stack: the runbook's --inputs-json run need not load the Pulumi SDK.
  const { readStackConfig } = require("../lib/preflight/stack-file") as typeof import("../lib/preflight/stack-file");
  return preflightInputs(await readStackConfig(resolve(v["project-dir"] ?? resolve(__dirname, "..")), v.stack!));
}
