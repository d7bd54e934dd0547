import { existsSync, readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { createServer, Server } from "node:http";
import { join } from "node:path";
import { Dsn, formatDsn } from "../dsn";
import { connect } from "../mysql";
import { freePort } from "../sandbox/free-port";
import { PodmanEngine, mariadbImage, podmanUnavailable, runMariadbContainer, startHealthRunner, startPodman } from "../sandbox/podman";
import type { LocalServer } from "../sandbox/server";
import { describeResult } from "../traffic/command";

/**
 * The IDC "container" when no container engine runs here (podman missing, not root, or the
 * MySQL flavour, which the FROM-scratch image does not carry): the IDC sandbox server, and a drill-local `docker` executable (put first on PATH for the idc-health step only)
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
  /** DOCKER_HOST for the idc-health step (the shim ignores it; the real engine's socket). */
  readonly dockerHost: string;
  /** What answers docker commands, for the drill's log: the real engine or the stand-in. */
  readonly engine: string;
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
    dockerHost: `unix://${join(dir, "docker.sock")}`,
    engine: "a drill-local docker stand-in (no container engine here): the IDC server is a plain process",
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

/**
 * The IDC MySQL in a real container (lib/sandbox/podman.ts): MariaDB from the host's files,
 * its datadir a named volume (the host sees it under podman's storage, so the drill's disk check
 * and error-log scan read it as they read a plain server's), 3306 forwarded to a loopback port.
 * `server` behaves like a LocalServer (kill = SIGKILL through podman, exit 137; start = podman
 * start); the idc-health step talks to the engine with the real docker CLI through DOCKER_HOST,
 * and `docker` on its PATH only records each command before running the real one.
 */
export async function startIdcContainer(
  dir: string,
  name: string,
  opts: { readonly timeZone: string; readonly bufferPoolMb: number; readonly args: readonly string[] },
): Promise<{ server: LocalServer; docker: DockerShim }> {
  const engine: PodmanEngine = await startPodman();
  try {
    const image = await mariadbImage(engine);
    const mariadbArgs = [`--default-time-zone=${opts.timeZone}`, `--innodb-buffer-pool-size=${opts.bufferPoolMb}M`, "--log-error=/var/lib/mysql/error.log", ...opts.args];
    const c = await runMariadbContainer(engine, image, { name, volume: `${name}-data-${process.pid}`, port: await freePort(), args: mariadbArgs });
    const health = startHealthRunner(engine, [name], 1_000);
    const datadir = (await engine.podman(["volume", "inspect", "--format", "{{.Mountpoint}}", c.volume])).stdout.trim();
    const dsn = (database: string): Dsn => ({ host: "127.0.0.1", port: c.port, user: "root", password: "", database });
    const podman = async (...args: string[]) => {
      const r = await engine.podman(args);
      if (!r.ok) throw new Error(describeResult(r));
      return r.stdout.trim();
    };
    let pid = Number(await podman("inspect", "--format", "{{.State.Pid}}", name));
    const server: LocalServer = {
      name: "idc",
      flavor: "mariadb",
      port: c.port,
      datadir,
      get pid() {
        return pid;
      },
      dsn,
      url: (database) => formatDsn(dsn(database)),
      admin: () => connect({ ...dsn("mysql"), database: "" }),
      async exec(...sql) {
        const conn = await connect(dsn("mysql"));
        try {
          for (const q of sql) await conn.query(q);
        } finally {
          await conn.end();
        }
      },
      // The engine removes the container and its volume.
      stop: async () => undefined,
      async kill() {
        await podman("kill", "--signal", "KILL", name);
        await podman("wait", name);
      },
      async start() {
        await podman("start", name);
        pid = Number(await podman("inspect", "--format", "{{.State.Pid}}", name));
        for (const deadline = Date.now() + 60_000; !(await engine.podman(["healthcheck", "run", name], 10_000)).ok; ) {
          if (Date.now() > deadline) throw new Error(`${name} did not become healthy after start`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
    };
    const callsFile = join(dir, "docker-calls.log");
    await writeFile(callsFile, "");
    // Records "docker VERB NAME" (the shim's wording, which the scenarios check), then runs the real CLI.
    const recorder = `#!/bin/sh\nlast=""; for a in "$@"; do last="$a"; done\necho "docker $1 $last" >> '${callsFile}'\nexec ${realDocker()} "$@"\n`;
    await writeFile(join(dir, "docker"), recorder, { mode: 0o755 });
    const docker: DockerShim = {
      binDir: dir,
      dockerHost: engine.dockerHost,
      engine: `podman (real container ${name}, image ${image}, API on ${engine.dockerHost})`,
      get calls() {
        return readFileSync(callsFile, "utf8").split("\n").filter(Boolean);
      },
      kill: (n) => (n === name ? server.kill() : Promise.reject(new Error(`no container ${n}`))),
      async close() {
        await health.stop();
        await engine.stop();
      },
    };
    return { server, docker };
  } catch (e) {
    await engine.stop();
    throw e;
  }
}

/** Why the drill's IDC MySQL cannot be a container here (then it is a plain process), or null. */
export function idcContainerUnavailable(flavor: string): string | null {
  if (flavor !== "mariadb") return `the container image is built from the host's MariaDB; the ${flavor} flavour runs as a plain process`;
  return podmanUnavailable();
}

function realDocker(): string {
  const bin = (process.env.PATH ?? "").split(":").map((p) => join(p, "docker")).find((b) => existsSync(b));
  if (!bin) throw new Error("the docker CLI is not on PATH (the idc-health step drives the engine with it)");
  return bin;
}
