import { EXIT, parseCli, runMain } from "../lib/cli";
import { RollbackError } from "../lib/errors";
import { maintenanceOff, maintenanceOn, maintenanceStatus } from "../lib/traffic/maintenance";
import { emit, required, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: maintenance.ts on|off|status --flag F [--reason TEXT] [--json]

Maintenance mode for nginx: "on" creates the flag file F, "off" removes it. nginx checks the file
on every request (nginx/maintenance-location.conf), so no reload is needed; see
docs/traffic-edge.md for the include. Both verbs are idempotent; "status" only reads and says
when the file at F was not written by "on". "off" removes only a flag "on" wrote: any other
file at F (a flag made by hand, another tool's) is refused and left in place.

exit: 0 done, 2 bad input, a flag that is not ours (off), or the flag could not be written
(its directory must exist).
`;

runMain(async (argv) => {
  const { values, positionals } = parseCli(
    argv,
    {
      flag: { type: "string" },
      reason: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    true,
  );
  if (values.help) return usage(USAGE);
  const verb = positionals[0];
  if (positionals.length !== 1 || !["on", "off", "status"].includes(verb)) {
    throw new RollbackError("ARGS_INVALID", "verb", `expected one of on, off, status (got "${positionals.join(" ")}")`, "run with --help");
  }
  const flag = required(values.flag, "flag");
  const state =
    verb === "on" ? await maintenanceOn(flag, values.reason) : verb === "off" ? await maintenanceOff(flag) : await maintenanceStatus(flag);
  say(
    `maintenance ${state.maintenance ? "ON" : "off"}${state.changed ? "" : verb === "status" ? "" : " (already)"}: ${flag}` +
      (state.since ? ` since ${state.since}${state.reason ? ` (${state.reason})` : ""}` : "") +
      (state.ours === false ? "; the file there was NOT written by `maintenance on` (made by hand or by another tool): `off` will not remove it" : ""),
  );
  emit(values.json, { ok: true, ...state });
  return EXIT.ok;
});
