import { stat } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { freePort } from "../../lib/sandbox/free-port";
import { startNginx, workerGenerations } from "../../lib/sandbox/nginx";
import { httpRequest } from "./support";

describe("the throw-away nginx", () => {
  it("starts on a loopback port with its own prefix, reloads, and leaves nothing behind", async () => {
    const port = await freePort();
    const nginx = await startNginx(() => ({ http: `server { listen 127.0.0.1:${port}; location / { return 200 "sandbox\\n"; } }` }), { name: "self-test" });
    try {
      expect(nginx.confPath.startsWith(nginx.prefix)).toBe(true);
      expect((await httpRequest(`http://127.0.0.1:${port}/`)).body).toBe("sandbox\n");
      await nginx.reload();
      expect(await nginx.generation()).toEqual({ generation: 1, settled: true });
    } finally {
      await nginx.stop();
    }
    await expect(stat(nginx.prefix)).rejects.toThrow(/ENOENT/);
  });

  it("fails to start with nginx's own message when the config is wrong", async () => {
    await expect(startNginx(() => ({ http: "server { listen 127.0.0.1:1; no_such_directive on; }" }))).rejects.toThrow(
      /unknown directive "no_such_directive"/,
    );
  });

  it("tells worker generations apart from the error log", () => {
    const log = [
      "2030/01/01 00:00:00 [notice] 10#10: start worker process 11",
      "2030/01/01 00:00:01 [notice] 10#10: signal 1 (SIGHUP) received from 20, reconfiguring",
      "2030/01/01 00:00:01 [notice] 10#10: reconfiguring",
      "2030/01/01 00:00:01 [notice] 10#10: start worker process 12",
    ];
    expect(workerGenerations(log.join("\n"))).toEqual({ generation: 1, settled: false });
    const settled = [...log, "2030/01/01 00:00:01 [notice] 11#11: gracefully shutting down"];
    expect(workerGenerations(settled.join("\n"))).toEqual({ generation: 1, settled: true });
    // A refused reload starts no workers: the generation stays.
    const refused = [...settled, "2030/01/01 00:00:02 [notice] 10#10: reconfiguring", '2030/01/01 00:00:02 [emerg] 10#10: host not found in upstream "x"'];
    expect(workerGenerations(refused.join("\n"))).toEqual({ generation: 1, settled: true });
  });
});
