import { spawn } from "node:child_process";

/** Runs a command; returns wall time, exit code, stdout and (GNU time) peak RSS in MB. */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; code: number; stdout: string; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn("/usr/bin/time", ["-f", "RSS_KB=%M", cmd, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const rss = /RSS_KB=(\d+)/.exec(stderr);
      if (code !== 0 && code !== 1) process.stderr.write(stderr);
      resolve({ ms: Date.now() - started, code: code ?? -1, stdout, rssMb: rss ? Math.round(Number(rss[1]) / 1024) : NaN });
    });
  });
}

/**
 * Our scripts from source with tsx's loader, as the drill starts them. (A real runbook runs the
 * compiled `node dist/scripts/x.js`, components/command-line.ts runScript; the bench needs no build.)
 */
export const RUN_TS = ["node", "--import", "tsx"];

/** Runs one of our scripts from source (RUN_TS). */
export function runOurs(script: string, args: string[], env: NodeJS.ProcessEnv): ReturnType<typeof timed> {
  return timed(RUN_TS[0], [...RUN_TS.slice(1), script, ...args], env);
}
