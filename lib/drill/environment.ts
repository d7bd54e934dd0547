import { spawn, ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ConnectionExtras, ConnectionFormat, connectionValue } from "../connection-string";
import type { Side } from "../dns-weights";
import { formatDsn } from "../dsn";
import { describeServer, readServerInfo } from "../flavor";
import { renderUpstream } from "../nginx-upstream";
import { LocalServer, defaultFlavor, startLocalServer } from "../sandbox/server";
import { freePort } from "../sandbox/free-port";
import { NginxSandbox, startNginx } from "../sandbox/nginx";
import { RollbackError } from "../errors";
import { parseReport, runChild } from "../timeline";
import { writeFileAtomic } from "../traffic/atomic-file";
import { maintenanceSnippets } from "../traffic/nginx-snippets";
import { DrillCredentials, userStatements } from "./credentials";
import { DockerShim, idcContainerUnavailable, startDockerShim, startIdcContainer } from "./docker-shim";
import { NetProxy, startNetProxy } from "./net-proxy";
import { DATABASE, createSchema } from "./shop";
import type { View } from "./view";

/** The repository root: scripts run from here, as the Pulumi command resources run them. */
export const ROOT = join(__dirname, "..", "..");

/** The IDC MySQL "container" name the idc-health step checks (answered by the docker shim). */
export const IDC_CONTAINER = "idc-mysql";
/** The nginx upstream the apps sit behind (nginx/example-server.conf). */
export const UPSTREAM = "app";

/** What the connection secret holds (lib/connection-string.ts); the drill's stack config says the same. */
export const SECRET_FORMAT: ConnectionFormat = "json";
export const SECRET_EXTRAS: ConnectionExtras = { connectionLimit: 8 };

/** One deployment of the demo app, as a child process that re-reads the secret on SIGHUP. */
export interface AppProcess {
  readonly side: Side;
  readonly port: number;
  readonly pid: number;
  /** Waits until the app next says which database the secret names (after a recycle: SIGHUP). */
  nextReload(): Promise<string>;
  /** Lines the app wrote to stderr (its log). */
  readonly log: string[];
  stop(): Promise<void>;
}

/**
 * Everything the drill runs on one machine: IDC (KST, +09:00) and AWS (UTC) database servers,
 * the network path from the apps to each (a relay the scenarios can degrade), two deployments of
 * the demo app ("aws" and "idc") behind one nginx with the shipped maintenance snippets, the
 * connection-secret file both apps read, and the docker shim for the IDC container.
 */
export interface DrillEnvironment {
  readonly dir: string;
  readonly idc: LocalServer;
  readonly aws: LocalServer;
  /** What each side's server really is ("MySQL 9.7.4", "MariaDB 10.11.19"): `--flavor` decides it, so logs and checks name it. */
  readonly serverNames: Record<Side, string>;
  readonly net: Record<Side, NetProxy>;
  readonly apps: Record<Side, AppProcess>;
  readonly nginx: NginxSandbox;
  /** Where users come in. */
  readonly nginxUrl: string;
  readonly upstreamFile: string;
  readonly maintenanceFlag: string;
  readonly secretFile: string;
  readonly backupDir: string;
  /** Where the drill's IDC backups go, newest first: the runbook's backup candidates. */
  readonly backupPaths: string[];
  readonly docker: DockerShim;
  /** The database URL of a side: "direct" (the operator's path the runbook uses) or "app" (through the app's network path). */
  url(side: Side, path: "direct" | "app"): string;
  /** Points the connection secret at a side (through the app's network path, as the app user). */
  writeSecret(side: Side): Promise<void>;
  /** Which side an app's x-db header names. */
  sideOf(xdb: string): string;
  stop(): Promise<void>;
}

/** tsx's loader by path, so scripts run from any working directory. */
const TSX = pathToFileURL(require.resolve("tsx")).href;

/** argv that runs a repo script as the runbook does (`npx tsx scripts/x.ts`, minus npx's startup). */
export function scriptArgv(script: string, args: readonly string[]): string[] {
  return [process.execPath, "--import", TSX, join(ROOT, script), ...args];
}

/** Runs a repo script outside the runbook (backups, measurements): its exit code and --json report, or an error naming it. */
export async function runScript(
  view: View,
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  okCodes: readonly number[] = [0],
): Promise<{ code: number; report: unknown }> {
  const { code, stdout } = await runChild(scriptArgv(script, args), { env: { ...process.env, ...env }, onStderr: (t) => view.child(t) });
  if (code === null || !okCodes.includes(code)) throw new RollbackError("DRILL_STEP", `${script} ${args[0] ?? ""}`, `exited with ${code}`, "see its output above");
  return { code, report: parseReport(stdout) };
}

async function startApp(side: Side, secretFile: string, log: (line: string) => void): Promise<AppProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", TSX, join(ROOT, "lib", "drill", "app.ts"), "--secret", secretFile, "--port", String(port), "--name", side], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  child.stderr!.on("data", (b: Buffer) => {
    for (const line of b.toString().split("\n").filter(Boolean)) {
      lines.push(line);
      log(line);
      for (const w of waiters.splice(0)) w(line);
    }
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`app ${side} did not start within 30 s: ${lines.join(" | ")}`)), 30_000);
    child.stdout!.once("data", () => {
      clearTimeout(t);
      resolve();
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`app ${side} exited with ${code}: ${lines.join(" | ")}`));
    });
  });
  const nextLine = (match: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`app ${side} did not recycle within 10 s`)), 10_000);
      const wait = (line: string) => {
        if (match.test(line)) {
          clearTimeout(t);
          resolve(line);
        } else waiters.push(wait);
      };
      waiters.push(wait);
    });
  return {
    side,
    port,
    pid: child.pid ?? -1,
    log: lines,
    nextReload: () => nextLine(/connection from the secret|recycle failed/),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** A sandbox server as the server itself says it is, from VERSION(). */
async function serverName(s: LocalServer): Promise<string> {
  const c = await s.admin();
  try {
    return describeServer(await readServerInfo(c));
  } finally {
    await c.end();
  }
}

/** Starts the environment; whatever started is stopped again if a later part fails. */
const BINLOG = ["--log-bin=binlog"];

export async function startEnvironment(creds: DrillCredentials, log: (line: string) => void): Promise<DrillEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), "rollback-drill-"));
  const stops: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const shimDir = join(dir, "bin");
    await mkdir(shimDir);
    // The binary log on, as on RDS (automated backups need it) and on an IDC primary: the
    // fence and settle compare commit positions (GTID or file:pos), which only it records.
    const idcOpts = { timeZone: "+09:00", bufferPoolMb: 128, args: BINLOG };
    // The IDC MySQL runs in a real container when the engine is here (issue 14), else as a plain process, and says which.
    const noContainer = idcContainerUnavailable(defaultFlavor());
    const [idcBox, aws] = await Promise.all([
      noContainer === null
        ? startIdcContainer(shimDir, IDC_CONTAINER, idcOpts)
        : startLocalServer({ ...idcOpts, name: "idc" }).then((server) => ({ server, docker: undefined })),
      startLocalServer({ timeZone: "+00:00", name: "aws", bufferPoolMb: 128, args: BINLOG }),
    ]);
    const idc = idcBox.server;
    stops.push(() => idc.stop(), () => aws.stop(), async () => idcBox.docker?.close());
    const serverNames = { idc: await serverName(idc), aws: await serverName(aws) };
    log(`IDC ${serverNames.idc} on 127.0.0.1:${idc.port} (time zone +09:00) ${noContainer === null ? `in container ${IDC_CONTAINER}` : `as a plain process (no container: ${noContainer})`}, AWS stand-in ${serverNames.aws} on 127.0.0.1:${aws.port} (+00:00)`);
    // The migration created the schema on both sides; the data is IDC's alone until the cut-over.
    await Promise.all([createSchema(idc), createSchema(aws)]);
    await Promise.all([idc.exec(...userStatements(creds)), aws.exec(...userStatements(creds))]);

    const net = { idc: await startNetProxy({ host: "127.0.0.1", port: idc.port }), aws: await startNetProxy({ host: "127.0.0.1", port: aws.port }) };
    stops.push(() => net.idc.close(), () => net.aws.close());

    const secretFile = join(dir, "secrets", "app-db.json");
    await mkdir(join(dir, "secrets"), { mode: 0o700 });
    const writeSecret = (side: Side) =>
      writeFileAtomic(
        secretFile,
        connectionValue(SECRET_FORMAT, { host: "127.0.0.1", port: net[side].port, database: DATABASE, user: creds.app.user }, creds.app.password, SECRET_EXTRAS),
      );
    await writeSecret("idc");

    // Both deployments start together; one that started is stopped again if the other failed.
    const started = await Promise.allSettled([startApp("aws", secretFile, log), startApp("idc", secretFile, log)]);
    const apps: Partial<Record<Side, AppProcess>> = {};
    for (const s of started) {
      if (s.status === "fulfilled") {
        apps[s.value.side] = s.value;
        stops.push(() => s.value.stop());
      }
    }
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const app = apps as Record<Side, AppProcess>;

    const nginxPort = await freePort();
    const maintenanceFlag = join(dir, "maintenance.flag");
    // The very snippets users install (nginx/*.conf), with the drill's paths.
    const snippets = join(dir, "nginx-rollback");
    await mkdir(snippets);
    for (const [name, text] of Object.entries(await maintenanceSnippets({ dir: snippets, flag: maintenanceFlag, retryAfterS: 5 }))) {
      await writeFileAtomic(join(snippets, name), text);
    }
    const upstreamFile = "upstream-app.conf";
    const nginx = await startNginx(
      (prefix) => ({
        files: {
          [upstreamFile]: renderUpstream({ name: UPSTREAM, kind: "http", servers: [{ host: "127.0.0.1", port: app.idc.port }] }),
        },
        http: [
          `include ${join(prefix, upstreamFile)};`,
          "server {",
          `  listen 127.0.0.1:${nginxPort};`,
          `  include ${join(snippets, "maintenance-server.conf")};`,
          // switch-upstream's probe (nginx.probe.url): through the upstream to the app's /health,
          // outside maintenance mode (the switch runs while the flag is up), loopback only.
          "  location = /rollback-probe {",
          "    allow 127.0.0.1;",
          "    deny all;",
          `    proxy_pass http://${UPSTREAM}/health;`,
          "  }",
          "  location / {",
          `    include ${join(snippets, "maintenance-location.conf")};`,
          `    proxy_pass http://${UPSTREAM};`,
          "    proxy_http_version 1.1;",
          '    proxy_set_header Connection "";',
          "    proxy_next_upstream error timeout;",
          "    proxy_connect_timeout 2s;",
          "  }",
          "}",
        ].join("\n"),
      }),
      { name: "drill" },
    );
    stops.push(() => nginx.stop());

    const backupDir = join(dir, "backups");
    await mkdir(backupDir);
    const docker = idcBox.docker ?? (await startDockerShim(shimDir, [{ name: IDC_CONTAINER, server: idc }]));
    if (!idcBox.docker) stops.push(() => docker.close());
    log(`docker commands of the idc-health step: ${docker.engine}`);
    log(`nginx on 127.0.0.1:${nginxPort} -> app "idc" :${app.idc.port} (app "aws" :${app.aws.port} on standby); connection secret -> IDC`);

    const servers = { idc, aws };
    const sides = new Map<string, Side>([
      [`${creds.app.user}@127.0.0.1:${net.idc.port}/${DATABASE}`, "idc"],
      [`${creds.app.user}@127.0.0.1:${net.aws.port}/${DATABASE}`, "aws"],
    ]);
    return {
      dir,
      idc,
      aws,
      serverNames,
      net,
      apps: app,
      nginx,
      nginxUrl: `http://127.0.0.1:${nginxPort}`,
      upstreamFile: nginx.path(upstreamFile),
      maintenanceFlag,
      secretFile,
      backupDir,
      backupPaths: [join(backupDir, "pre-cutover"), join(backupDir, "nightly")],
      docker,
      url: (side, path) =>
        formatDsn({
          host: "127.0.0.1",
          port: path === "direct" ? servers[side].port : net[side].port,
          user: creds.runbook.user,
          password: creds.runbook.password,
          database: DATABASE,
        }),
      writeSecret,
      sideOf: (xdb) => sides.get(xdb) ?? xdb,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
