import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPreflight } from "../../lib/preflight";
import { type PodmanEngine, mariadbImage, podmanUnavailable, startPodman } from "../../lib/sandbox/podman";
import { inputs } from "./fixture";

/**
 * The docker check against a real engine: podman serving the Docker API on its own socket
 * (lib/sandbox/podman.ts), reached by the docker CLI with --host, as preflight reaches the IDC
 * docker host. The container is created, not started: the check reads its state, nothing more.
 */
const unavailable = podmanUnavailable();
if (unavailable) console.warn(`preflight docker check against podman: NOT RUN: ${unavailable}`);

describe.skipIf(unavailable !== null)("preflight: docker host (real podman)", () => {
  let engine: PodmanEngine;
  const name = `preflight-idc-${process.pid}`;
  beforeAll(async () => {
    engine = await startPodman();
    const created = await engine.podman(["create", "--name", name, await mariadbImage(engine)]);
    if (!created.ok) throw new Error(created.stderr);
  }, 180_000);
  afterAll(async () => {
    await engine?.podman(["rm", "-f", name]);
    await engine?.stop();
  });

  const check = async (containerName: string) =>
    (await runPreflight(inputs({ idcMysql: { dockerHost: engine.dockerHost, containerName, restartIfUnhealthy: true } }), { env: {}, only: ["docker"] })).checks[0];

  it("passes when the host answers and has the container, naming its version and state", async () => {
    const c = await check(name);
    expect(c.status).toBe("pass");
    expect(c.evidence[0]).toMatch(new RegExp(`^docker \\d+\\.\\d+\\.\\d+ at ${engine.dockerHost}; container ${name} is created$`));
  });

  it("refuses a container name the host does not know", async () => {
    const c = await check(`${name}-typo`);
    expect(c.problems.map((p) => `${p.code} ${p.subject}`)).toEqual([`CONTAINER_NOT_FOUND rollback:idcMysql.containerName ${name}-typo`]);
  });
});
