import { readFile } from "node:fs/promises";
import { EXIT, parseCli, runMain } from "../lib/cli";
import { RollbackError, messageOf } from "../lib/errors";
import { assessImpact, formatImpact, parsePreview } from "../lib/impact";
import { emit, say, usage } from "../lib/traffic/script";

const USAGE = `
usage: impact.ts [FILE | -] [--json]
       pulumi preview -s rollback --json | impact.ts

Reads the document \`pulumi preview --json\` prints (from FILE, or stdin) and says what the run
will move where: the nginx upstream's servers, the connection secret's new version, the Route53
weights, the RDS state, the stop guard, and every command the runbook will run. It refuses when
any step would replace or delete something that is not a runbook command (a record, the secret,
the RDS power state, anything else), or when the preview itself reported an error.

exit: 0 safe to apply, 1 refused (do not run pulumi up), 2 bad input.
`;

runMain(async (argv) => {
  const { values, positionals } = parseCli(argv, { json: { type: "boolean", default: false }, help: { type: "boolean", default: false } }, true);
  if (values.help) return usage(USAGE);
  if (positionals.length > 1) throw new RollbackError("ARGS_INVALID", "argv", "give at most one preview file", "run with --help");
  const source = positionals[0] ?? "-";
  const text = source === "-" ? await readStdin() : await readFile(source, "utf8").catch((e: unknown) => {
    throw new RollbackError("FILE_UNREADABLE", source, messageOf(e));
  });
  const impact = assessImpact(parsePreview(text, source === "-" ? "stdin" : source));
  for (const line of formatImpact(impact)) say(line);
  emit(values.json, impact);
  return impact.ok ? EXIT.ok : EXIT.failed;
});

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new RollbackError("ARGS_MISSING", "stdin", "is a terminal, not a preview", "pipe pulumi preview --json into it, or give the file");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
