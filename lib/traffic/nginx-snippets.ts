import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** Where the shipped snippets expect to live and where they look for the flag (nginx/*.conf). */
export const SNIPPET_DIR = "/etc/nginx/rollback";
export const DEFAULT_FLAG = "/var/lib/rollback/maintenance.flag";
export const HEALTH_PATH = "/nginx-health";
export const DEFAULT_RETRY_AFTER_S = 120;

/** The repo's nginx/ directory. */
export const SHIPPED_DIR = join(__dirname, "..", "..", "nginx");

export interface SnippetPaths {
  /** Directory the snippets and the 503 page are installed in (replaces /etc/nginx/rollback). */
  readonly dir: string;
  /** The maintenance flag file (replaces /var/lib/rollback/maintenance.flag). */
  readonly flag: string;
  readonly retryAfterS?: number;
}

/**
 * The shipped maintenance snippets with their paths replaced, keyed by file name, ready to be
 * written into `paths.dir`. Tests and the drill install the very files users copy, so what is
 * tested is what ships.
 */
export async function maintenanceSnippets(paths: SnippetPaths): Promise<Record<string, string>> {
  const names = ["maintenance-server.conf", "maintenance-location.conf", "rollback-maintenance.html"];
  const out: Record<string, string> = {};
  for (const name of names) {
    out[name] = (await readFile(join(SHIPPED_DIR, name), "utf8"))
      .replaceAll(DEFAULT_FLAG, paths.flag)
      .replaceAll(SNIPPET_DIR, paths.dir)
      .replace(`Retry-After ${DEFAULT_RETRY_AFTER_S} `, `Retry-After ${paths.retryAfterS ?? DEFAULT_RETRY_AFTER_S} `);
  }
  return out;
}
