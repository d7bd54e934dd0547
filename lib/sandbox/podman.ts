import { ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { CommandResult, describeResult, runCommand } from "../traffic/command";
import { cacheDir } from "./binaries";
import { exists, killGroup, stopChild } from "./process";

/**
 * A real container engine for the IDC MySQL container: Debian's podman as root, configured by
 * scripts/setup-podman.sh (runc, cgroupfs, explicit ulimits, storage under the cache dir), with
 * `podman system service` on a socket of its own so the ordinary Docker CLI and API drive it
 * through DOCKER_HOST, as lib/traffic/idc-mysql.ts drives a production docker host. No registry
 * is reachable here: the image is built FROM scratch out of the host's own MariaDB files.
 *
 *   const engine = await startPodman();
 *   const image = await mariadbImage(engine);
 *   const c = await runMariadbContainer(engine, image, { name: "idc-mysql", volume: "idc-data" });
 *   const health = startHealthRunner(engine, [c.name]);   // podman's own runner is a systemd timer
 *   // DOCKER_HOST=engine.dockerHost docker inspect idc-mysql …
 *   await health.stop(); await engine.stop();
 */
export interface PodmanEngine {
  /** scripts/setup-podman.sh's config dir (keyed by podman's version). */
  readonly configDir: string;
  /** `unix://…/podman.sock`, for DOCKER_HOST. */
  readonly dockerHost: string;
  /** The environment the podman CLI needs (its config files). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `podman ARGS` with that environment; never throws. */
  podman(args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
  /** Removes what this engine created (containers, volumes), then stops the service. */
  stop(): Promise<void>;
}

const exec = promisify(execFile);

/** Why podman cannot run here, or null when it can (root, podman, runc and slirp4netns installed, setup done). */
export function podmanUnavailable(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.getuid?.() !== 0) return "podman runs as root here (rootless needs subuid ranges this sandbox lacks)";
  for (const bin of ["/usr/bin/podman", "/usr/sbin/runc", "/usr/bin/slirp4netns"]) {
    if (!existsSync(bin)) return `${bin} is missing: run scripts/setup-podman.sh`;
  }
  const dir = configDirOf(env);
  if (!existsSync(join(dir, ".ready"))) return `${dir} is not prepared: run scripts/setup-podman.sh`;
  return null;
}

/** scripts/setup-podman.sh's config dir for the installed podman. */
function configDirOf(env: NodeJS.ProcessEnv): string {
  const version = execFileSync("/usr/bin/podman", ["--version"], { encoding: "utf8" }).trim().split(/\s+/).at(-1);
  return join(cacheDir(env), `podman-${version}`);
}

/** Starts `podman system service --time=0` on a socket in a fresh temp dir; resolves once the API answers. */
export async function startPodman(): Promise<PodmanEngine> {
  const why = podmanUnavailable();
  if (why) throw new Error(`podman is not available: ${why}`);
  const configDir = configDirOf(process.env);
  // Each engine has its own storage, run and tmp dirs (setup's config with its paths moved into
  // a temp dir): two drills or test files at once then cannot collide on a container or volume
  // name, and whatever a killed run left is removed with its dir. The image tarball is shared.
  const runDir = await mkdtemp(join(tmpdir(), "rollback-podman-"));
  for (const f of ["containers.conf", "storage.conf"]) await writeFile(join(runDir, f), (await readFile(join(configDir, f), "utf8")).replaceAll(configDir, runDir));
  for (const d of ["storage", "run", "tmp"]) await mkdir(join(runDir, d));
  const env = { ...process.env, CONTAINERS_CONF: join(runDir, "containers.conf"), CONTAINERS_STORAGE_CONF: join(runDir, "storage.conf") };
  const socket = join(runDir, "podman.sock");
  const service: ChildProcess = spawn("/usr/bin/podman", ["system", "service", "--time=0", `unix://${socket}`], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  service.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const created = { containers: new Set<string>(), volumes: new Set<string>() };
  const podman = (args: readonly string[], timeoutMs = 120_000) => runCommand(["/usr/bin/podman", ...args], { env, timeoutMs });
  const deadline = Date.now() + 15_000;
  while (!(await exists(socket))) {
    if (service.exitCode !== null || Date.now() > deadline) {
      killGroup(service, "SIGKILL");
      await rm(runDir, { recursive: true, force: true });
      throw new Error(`podman system service did not start: ${stderr.trim()}`);
    }
    await sleep(50);
  }
  const engine: PodmanEngine & { created: typeof created } = {
    configDir,
    dockerHost: `unix://${socket}`,
    env,
    podman,
    created,
    async stop() {
      for (const name of created.containers) await podman(["rm", "-f", "-t", "0", name]);
      for (const name of created.volumes) await podman(["volume", "rm", "-f", name]);
      await stopChild(service, () => killGroup(service, "SIGTERM"));
      await rm(runDir, { recursive: true, force: true });
    },
  };
  return engine;
}

/** The host files the image is made of: the server, its client tools, install-db and what its script calls. */
const BINARIES = [
  "/usr/sbin/mariadbd",
  ...["mariadb", "mariadb-admin", "mariadb-install-db", "my_print_defaults", "resolveip"].map((b) => `/usr/bin/${b}`),
  // mariadb-install-db is a shell script; the entrypoint and the health check are too.
  ...["sh", "cat", "sed", "dirname", "chmod", "chown", "mkdir", "uname", "hostname", "timeout", "rm", "ls", "mawk"].map((b) => `/usr/bin/${b}`),
];
const TREES = ["/usr/share/mysql", "/usr/lib/mysql/plugin"];

/**
 * What the container runs: on an empty volume, install-db and a root account reachable over TCP
 * (the port forward's connections do not come from localhost), then mariadbd in the foreground as
 * PID 1, so `docker stop`/`restart` signal the server itself.
 */
const ENTRYPOINT = `#!/bin/sh
set -e
mkdir -p /run/mysqld /tmp
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=root --datadir=/var/lib/mysql --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve >/dev/null
  # --bootstrap reads one statement per line and starts without the grant tables: load them first.
  printf "FLUSH PRIVILEGES;\\nCREATE USER 'root'@'%%' IDENTIFIED BY '';\\nGRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION;\\n" | mariadbd --bootstrap --user=root --datadir=/var/lib/mysql --skip-name-resolve >/dev/null
fi
exec mariadbd --user=root --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306 --skip-name-resolve --socket=/run/mysqld/mysqld.sock --innodb-buffer-pool-size=32M "$@"
`;

/**
 * The health check the container declares. A SIGSTOPped mysqld still completes TCP handshakes
 * (the kernel accepts) but never answers, so the ping is bounded by `timeout` as well as by the
 * client's own connect timeout.
 */
export const HEALTH_CMD = "timeout 3 mariadb-admin --connect-timeout=2 --protocol=tcp -h127.0.0.1 -uroot ping";

/**
 * An image FROM scratch out of the host's MariaDB: the binaries above, every library `ldd` lists
 * for them (copied under the name the loader asks for), share/ and the plugins. The tree is
 * tarred once per MariaDB version and recipe into the cache dir; each engine `podman import`s it
 * into its own storage (about a second, ~70 MB).
 */
export async function mariadbImage(engine: PodmanEngine): Promise<string> {
  const { stdout } = await exec("/usr/sbin/mariadbd", ["--version"]);
  const version = /Ver (\S+)/.exec(stdout)?.[1]?.replace(/[^A-Za-z0-9_.-]/g, "_") ?? "unknown";
  // Keyed by the server's version and by how the image is made (a changed entrypoint is a new image).
  const recipe = createHash("sha256").update(JSON.stringify([BINARIES, TREES, ENTRYPOINT])).digest("hex").slice(0, 12);
  const tag = `localhost/rollback-idc-mariadb:${version}-${recipe}`;
  const tarball = join(engine.configDir, "images", `rollback-idc-mariadb-${version}-${recipe}.tar`);
  if (!(await exists(tarball))) await buildRootfsTarball(tarball);
  const r = await engine.podman(["import", "--change", 'ENTRYPOINT ["/usr/bin/entrypoint"]', "--change", "EXPOSE 3306", tarball, tag]);
  if (!r.ok) throw new Error(`podman import failed: ${describeResult(r)}`);
  return tag;
}

/** The image's file tree as a tarball, written to a temp name and renamed (a concurrent builder never sees half of it). */
async function buildRootfsTarball(tarball: string): Promise<void> {
  await mkdir(dirname(tarball), { recursive: true });
  const root = await mkdtemp(join(tmpdir(), "rollback-rootfs-"));
  const partial = `${tarball}.${process.pid}.partial`;
  try {
    for (const d of ["usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/lib64", "etc", "tmp", "run/mysqld", "var/lib/mysql"]) await mkdir(join(root, d), { recursive: true });
    // Debian 12 is merged-/usr: the loader and scripts name /bin, /lib and /lib64.
    for (const [link, to] of [["bin", "usr/bin"], ["sbin", "usr/sbin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]]) await symlink(to, join(root, link));
    await symlink("mawk", join(root, "usr/bin/awk"));
    const libs = new Set<string>();
    for (const bin of BINARIES) {
      await copyFile(await realpath(bin), join(root, bin));
      await chmod(join(root, bin), 0o755);
      for (const lib of await lddOf(bin)) libs.add(lib);
    }
    for (const lib of libs) {
      const target = lib.startsWith("/lib64/") ? join(root, "usr/lib64", basename(lib)) : join(root, "usr/lib/x86_64-linux-gnu", basename(lib));
      await copyFile(await realpath(lib), target);
    }
    for (const tree of TREES) {
      await mkdir(join(root, dirname(tree)), { recursive: true });
      await exec("cp", ["-a", tree, join(root, dirname(tree))]);
    }
    await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nmysql:x:999:999:MariaDB:/var/lib/mysql:/bin/false\n");
    await writeFile(join(root, "etc/group"), "root:x:0:\nmysql:x:999:\n");
    await writeFile(join(root, "usr/bin/entrypoint"), ENTRYPOINT, { mode: 0o755 });
    await exec("tar", ["-C", root, "-cf", partial, "."]);
    await rename(partial, tarball);
  } finally {
    await rm(partial, { force: true });
    await rm(root, { recursive: true, force: true });
  }
}

/** The libraries `ldd` says a binary loads (absolute paths); none for a static binary or a script. */
async function lddOf(bin: string): Promise<string[]> {
  const text = await readFile(bin).then((b) => b.subarray(0, 4));
  if (text.toString("latin1") !== "\x7fELF") return [];
  const { stdout } = await exec("ldd", [bin]);
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]);
}

export interface MariadbContainer {
  readonly name: string;
  /** The host port forwarded to the container's 3306 (127.0.0.1 only). */
  readonly port: number;
  readonly volume: string;
}

/**
 * Runs the image as a detached container: the data volume mounted at /var/lib/mysql, 3306
 * forwarded to 127.0.0.1:port through slirp4netns (no bridge, no host nft rules), the health
 * check declared (HEALTH_CMD) and run by startHealthRunner. Resolves once MariaDB answers the check.
 */
export async function runMariadbContainer(
  engine: PodmanEngine,
  image: string,
  opts: { readonly name: string; readonly volume: string; readonly port: number; readonly healthRetries?: number; readonly args?: readonly string[] },
): Promise<MariadbContainer> {
  const created = (engine as PodmanEngine & { created?: { containers: Set<string>; volumes: Set<string> } }).created;
  const r = await engine.podman([
    "run", "-d", "--name", opts.name,
    "--network", "slirp4netns",
    "-p", `127.0.0.1:${opts.port}:3306`,
    "-v", `${opts.volume}:/var/lib/mysql`,
    "--health-cmd", HEALTH_CMD,
    // No timer (podman's would be a systemd unit, and there is no systemd here): startHealthRunner runs the checks.
    "--health-interval", "disable",
    "--health-retries", String(opts.healthRetries ?? 2),
    "--health-timeout", "5s",
    image,
    // mariadbd flags after the entrypoint's own (a later flag wins).
    ...(opts.args ?? []),
  ]);
  created?.volumes.add(opts.volume);
  if (!r.ok) throw new Error(`podman run ${opts.name} failed: ${describeResult(r)}`);
  created?.containers.add(opts.name);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = await engine.podman(["healthcheck", "run", opts.name], 10_000);
    if (h.ok) break;
    if (Date.now() > deadline || /is not running/.test(h.stderr)) throw new Error(`${opts.name} did not become healthy: ${describeResult(h)}; logs: ${(await engine.podman(["logs", "--tail", "5", opts.name])).stderr}`);
    await sleep(250);
  }
  return { name: opts.name, port: opts.port, volume: opts.volume };
}

/** `podman healthcheck run` for each container every `intervalMs` (what podman's systemd timer would do). */
export function startHealthRunner(engine: PodmanEngine, names: readonly string[], intervalMs = 1_000): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(names.map((n) => engine.podman(["healthcheck", "run", n], 10_000)));
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
