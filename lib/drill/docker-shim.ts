import { chmod, writeFile } from "node:fs/promises";
import { createServer, Server } from "node:http";
import { join } from "node:path";
import type { LocalServer } from "../sandbox/server";

/**
 * No docker engine exists on the drill's machine, so the IDC "container" is the IDC sandbox
 * server, and a drill-local `docker` executable (put first on PATH for the idc-health step only)
 * answers the two commands scripts/idc-mysql.ts runs — `docker inspect --type container NAME`
 * and `docker restart --time N NAME` — by asking the drill, which owns the server process:
 * inspect reports whether mariadbd is running, restart starts it again on the same datadir and
 * port. Everything else in the step (decide, restart, wait until MySQL answers) is the real script.
 */
export interface ContainerStandIn {
  readonly name: string;
  readonly server: LocalServer;
}

interface State {
  running: boolean;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  restartCount: number;
}

export interface DockerShim {
  /** Directory holding the `docker` executable: prepend it to PATH. */
  readonly binDir: string;
  /** Kills the container's server as a crash would (SIGKILL: exit 137). */
  kill(name: string): Promise<void>;
  /** `docker` commands the shim answered, for the report. */
  readonly calls: string[];
  close(): Promise<void>;
}

const ZERO = "0001-01-01T00:00:00Z";

/** The fields of `docker inspect` that lib/traffic/docker.ts reads. */
function inspect(s: State): unknown[] {
  return [
    {
      State: {
        Status: s.running ? "running" : "exited",
        Running: s.running,
        ExitCode: s.running ? 0 : s.exitCode,
        OOMKilled: false,
        StartedAt: s.startedAt,
        FinishedAt: s.finishedAt,
      },
      RestartCount: s.restartCount,
    },
  ];
}

export async function startDockerShim(dir: string, containers: readonly ContainerStandIn[]): Promise<DockerShim> {
  const states = new Map<string, State>(
    containers.map((c) => [c.name, { running: true, startedAt: new Date().toISOString(), finishedAt: ZERO, exitCode: 0, restartCount: 0 }]),
  );
  const calls: string[] = [];
  const serverOf = (name: string) => containers.find((c) => c.name === name)?.server;
  // `docker restart`: stop (if running), then start again on the same datadir and port.
  const restart = async (state: State, server: LocalServer) => {
    if (state.running) await server.kill();
    await server.start();
    Object.assign(state, { running: true, startedAt: new Date().toISOString(), restartCount: state.restartCount + 1 });
  };

  const http: Server = createServer((req, res) => {
    const [, verb, name] = /^\/(inspect|restart|unpause)\/(.+)$/.exec(req.url ?? "") ?? [];
    const state = states.get(decodeURIComponent(name ?? ""));
    const server = serverOf(decodeURIComponent(name ?? ""));
    calls.push(`docker ${verb} ${decodeURIComponent(name ?? "")}`);
    const reply = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (!state || !server) {
      reply(404, { error: `Error: No such object: ${name}` });
    } else if (verb === "inspect") {
      reply(200, inspect(state));
    } else if (verb === "unpause") {
      reply(409, { error: `Error response from daemon: Container ${name} is not paused` });
    } else {
      restart(state, server).then(
        () => reply(200, { ok: true }),
        (e: unknown) => reply(500, { error: String(e) }),
      );
    }
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

  // Plain node (no tsx), so the shim costs what a docker CLI call costs.
  const shim = `#!${process.execPath}
// Drill-local stand-in for the docker CLI (lib/drill/docker-shim.ts): there is no docker engine here.
const http = require("node:http");
const args = process.argv.slice(2);
const name = args[args.length - 1];
const verb = args[0];
if (!["inspect", "restart", "unpause"].includes(verb) || !name) {
  process.stderr.write("drill docker shim: only inspect, restart and unpause are supported\\n");
  process.exit(1);
}
http.get(${JSON.stringify(url)} + "/" + verb + "/" + encodeURIComponent(name), (res) => {
  let body = "";
  res.on("data", (c) => (body += c));
  res.on("end", () => {
    if (res.statusCode !== 200) {
      process.stderr.write(JSON.parse(body).error + "\\n");
      process.exit(1);
    }
    process.stdout.write(verb === "inspect" ? body + "\\n" : name + "\\n");
  });
}).on("error", (e) => {
  process.stderr.write("Cannot connect to the Docker daemon (drill shim: " + e.message + ")\\n");
  process.exit(1);
});
`;
  const bin = join(dir, "docker");
  await writeFile(bin, shim);
  await chmod(bin, 0o755);

  return {
    binDir: dir,
    calls,
    async kill(name) {
      const state = states.get(name);
      const server = serverOf(name);
      if (!state || !server) throw new Error(`no container ${name}`);
      await server.kill();
      Object.assign(state, { running: false, finishedAt: new Date().toISOString(), exitCode: 137 });
    },
    close: () => new Promise<void>((r) => http.close(() => r())),
  };
}
