import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { LatencyProxy, startLatencyProxy } from "../../lib/sandbox/latency-proxy";
import { LocalServer, startLocalServer } from "../../lib/sandbox/server";

// The benchmark's stand-in for the VPN to AWS: it must add the delay and change nothing else.
describe("latency proxy", () => {
  let server: LocalServer;
  let proxy: LatencyProxy;
  beforeAll(async () => {
    server = await startLocalServer({ name: "latency", bufferPoolMb: 32 });
    proxy = await startLatencyProxy(server.port, 20);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it("adds the delay to every round trip of a MySQL session and passes results through intact", async () => {
    const conn = await connect({ ...server.dsn(""), port: proxy.port });
    try {
      const started = Date.now();
      const [rows] = (await conn.query("SELECT REPEAT('x', 100000) AS big, 42 AS n")) as unknown as [{ big: string; n: number }[]];
      expect(Date.now() - started).toBeGreaterThanOrEqual(40);
      expect(rows[0].big.length).toBe(100000);
      expect(Number(rows[0].n)).toBe(42);
    } finally {
      await conn.end();
    }
  });

  it("keeps byte order under a stream of writes", async () => {
    const echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
    const port = (echo.address() as { port: number }).port;
    const p = await startLatencyProxy(port, 5);
    const { createConnection } = await import("node:net");
    const sock = createConnection({ host: "127.0.0.1", port: p.port });
    const sent = Array.from({ length: 200 }, (_, i) => `${i};`).join("");
    let got = "";
    await new Promise<void>((resolve) => {
      sock.on("data", (d) => {
        got += d.toString();
        if (got.length >= sent.length) resolve();
      });
      for (let i = 0; i < 200; i++) sock.write(`${i};`);
    });
    expect(got).toBe(sent);
    sock.destroy();
    await p.close();
    echo.close();
  });
});
