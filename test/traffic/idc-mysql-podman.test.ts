import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { freePort } from "../../lib/sandbox/free-port";
import { MariadbContainer, PodmanEngine, mariadbImage, podmanUnavailable, runMariadbContainer, startHealthRunner, startPodman } from "../../lib/sandbox/podman";
import { runCommand } from "../../lib/traffic/command";
import { stateOf } from "../../lib/traffic/docker";
import { runScript } from "./support";

/**
 * idc-mysql.ts against a REAL container engine: podman (lib/sandbox/podman.ts) serving the Docker
 * API on its own socket, driven by the ordinary docker CLI through DOCKER_HOST, exactly as on the
 * IDC docker host; the container runs MariaDB built from the host's own files, its data on a
 * named volume, its health check run every 500 ms by startHealthRunner (podman's runner is a
 * systemd timer, absent here). What a real engine cannot produce (a docker CLI that cannot reach
 * its daemon, a restart the daemon refuses) stays in idc-mysql.test.ts with the fake docker.
 */
const unavailable = podmanUnavailable();
if (unavailable) console.warn(`idc-mysql against podman: NOT RUN: ${unavailable}`);

describe.skipIf(unavailable !== null)("idc-mysql.ts against a real container (podman through DOCKER_HOST)", () => {
  let engine: PodmanEngine;
  let c: MariadbContainer;
  let health: { stop(): Promise<void> };
  const name = `idc-mysql-${process.pid}`;
  const dsn = () => ({ host: "127.0.0.1", port: c.port, user: "root", password: "", database: "mysql" });
  const env = () => ({ DOCKER_HOST: engine.dockerHost, DATABASE_URL: `mysql://root@127.0.0.1:${c.port}/mysql` });
  const idc = (...args: string[]) => runScript("idc-mysql", [...args, "--container", name, "--poll-ms", "200", "--json"], env());
  /** The container's state as the docker CLI sees it through DOCKER_HOST (the API's status text has no "(healthy)": inspect). */
  const state = async () => {
    const r = await runCommand(["docker", "inspect", "--type", "container", name], { env: { ...process.env, DOCKER_HOST: engine.dockerHost } });
    return stateOf(JSON.parse(r.stdout)[0].State, 0);
  };

  beforeAll(async () => {
    engine = await startPodman();
    const image = await mariadbImage(engine);
    c = await runMariadbContainer(engine, image, { name, volume: `${name}-data`, port: await freePort() });
    health = startHealthRunner(engine, [name], 500);
    const s = await connect(dsn());
    await s.query("CREATE DATABASE app");
    await s.query("CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40))");
    await s.query("INSERT INTO app.orders VALUES (1, 'written before any restart')");
    await s.end();
  }, 180_000);

  afterAll(async () => {
    await health?.stop();
    await engine?.stop();
  }, 60_000);

  async function rowsOnVolume(): Promise<unknown[]> {
    const s = await connect(dsn());
    try {
      return (await s.query("SELECT id, note FROM app.orders ORDER BY id"))[0] as unknown[];
    } finally {
      await s.end();
    }
  }

  it("check: a healthy container and MySQL answering through the port forward, exit 0", async () => {
    const r = await idc("check");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, before: { status: "running", health: "healthy" }, mysql: { answered: true }, dockerHost: engine.dockerHost });
  }, 60_000);

  it("detects a SIGSTOPped mysqld (accepts TCP, answers nothing) within 15 s, restarts it, MySQL answers, the data survives", async () => {
    const stopped = await engine.podman(["kill", "--signal", "STOP", name]);
    expect(stopped.ok, stopped.stderr).toBe(true);
    const t0 = Date.now();
    while ((await state()).health !== "unhealthy") {
      expect(Date.now() - t0, "health check never said unhealthy").toBeLessThan(15_000);
      await new Promise((r) => setTimeout(r, 200));
    }
    const detectedMs = Date.now() - t0;
    console.log(`SIGSTOPped mysqld reported unhealthy after ${detectedMs} ms (health check every 500 ms, 2 retries, each bounded by timeout 3)`);

    const r = await idc("restart", "--timeout", "90", "--stop-timeout", "2");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, action: "restart", before: { status: "running", health: "unhealthy" }, after: { status: "running", health: "healthy" }, mysql: { answered: true } });
    expect(r.json.dockerCommands.map((x: { argv: string[] }) => x.argv.slice(1).join(" "))).toContain(`restart --time 2 ${name}`);
    expect(await rowsOnVolume()).toEqual([{ id: 1, note: "written before any restart" }]);
  }, 180_000);

  it("starts an exited container and waits until it is healthy; the volume's data is still there", async () => {
    const s = await connect(dsn());
    await s.query("INSERT INTO app.orders VALUES (2, 'written before the stop')");
    await s.end();
    const stop = await engine.podman(["stop", "-t", "10", name]);
    expect(stop.ok, stop.stderr).toBe(true);
    expect((await state()).status).toBe("exited");

    const r = await idc("restart", "--timeout", "90");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, action: "restart", before: { status: "exited" }, mysql: { answered: true } });
    expect(await rowsOnVolume()).toEqual([
      { id: 1, note: "written before any restart" },
      { id: 2, note: "written before the stop" },
    ]);
  }, 180_000);

  it("a wrong password is a credentials problem: the healthy container is not restarted", async () => {
    const before = (await engine.podman(["inspect", "--format", "{{.State.StartedAt}}", name])).stdout.trim();
    const r = await runScript("idc-mysql", ["restart", "--container", name, "--json"], { ...env(), DATABASE_URL: `mysql://root:wrong@127.0.0.1:${c.port}/mysql` });
    expect(r.code, r.stderr).toBe(1);
    expect(r.json).toMatchObject({ action: "none", mysql: { failure: "credentials" } });
    expect(r.json.problem).toMatch(/credentials problem .*restarting it would not help/);
    expect((await engine.podman(["inspect", "--format", "{{.State.StartedAt}}", name])).stdout.trim()).toBe(before);
  }, 60_000);
});
