import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { RollbackError } from "../errors";

/**
 * Where the project is on disk, and whether its compiled copy is current.
 *
 * With `main: dist/index.js` the Pulumi engine runs the program, and the plugins it starts, with
 * `dist/` as working directory (pkg/engine getPwdMain), and `command:local:Command` without
 * `dir` runs in the command provider's own working directory: commands and their timelines
 * must name the project root explicitly. The engine passes the folder of Pulumi.yaml to the
 * Node.js program as `--root-directory` (@pulumi/pulumi cmd/run; pulumi.runtime.getRootDirectory()):
 * outside the engine (mocks, older CLIs) that is empty or a placeholder, and the program's own
 * location is used instead: the nearest folder up from it that holds Pulumi.yaml.
 */
export function projectRoot(engineRoot: string, programDir: string): string {
  if (isAbsolute(engineRoot) && existsSync(join(engineRoot, "Pulumi.yaml"))) return engineRoot;
  for (let dir = programDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "Pulumi.yaml"))) return dir;
    if (dirname(dir) === dir) {
      throw new RollbackError("CONFIG_INVALID", programDir, "is not inside a Pulumi project (no Pulumi.yaml here or above)", "run pulumi from the project checkout");
    }
  }
}

/** The compiled program and scripts: `npm run build` (tsc, outDir dist) writes them. */
export const BUILD_DIR = "dist";

/** The sources that run on a real run: the program, its components, the scripts and their library. */
const SOURCES = ["index.ts", "components", "lib", "scripts"];

function sourcesUnder(root: string, path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  return readdirSync(full).flatMap((name) => sourcesUnder(root, join(path, name)));
}

/**
 * Refuses to run from a stale build. Runbook commands run the compiled scripts
 * (`node dist/scripts/x.js`: no tsx, so `npm ci --omit=dev` is enough on the runner), and the
 * dynamic providers are serialized from the compiled program; a source edited or checked out
 * after the last `npm run build` would silently run the old code. Throws BUILD_STALE naming the
 * first compiled file that is missing or older than its source.
 */
export function assertBuilt(root: string): void {
  for (const source of SOURCES.flatMap((p) => sourcesUnder(root, p))) {
    const compiled = join(BUILD_DIR, source.replace(/\.ts$/, ".js"));
    const at = join(root, compiled);
    if (!existsSync(at)) {
      throw new RollbackError("BUILD_STALE", compiled, `is missing (the compiled ${source})`, "run npm run build in the project root");
    }
    if (statSync(at).mtimeMs < statSync(join(root, source)).mtimeMs) {
      throw new RollbackError("BUILD_STALE", compiled, `is older than ${relative(root, join(root, source))}`, "run npm run build in the project root");
    }
  }
}
