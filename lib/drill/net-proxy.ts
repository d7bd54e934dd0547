import { createConnection, createServer, Socket } from "node:net";

/**
 * The network between the app and a database, as a TCP relay the drill can degrade: `delay`
 * holds every server-to-client chunk for N ms (a slower path or instance: the "performance"
 * scenario), `down` resets every connection and refuses new ones (the "network failure to RDS"
 * scenario). The runbook's own steps connect to the databases directly — the operator's
 * alternative path (plan §9: "prepare an alternative connection path").
 */
export type NetMode = { kind: "up" } | { kind: "delay"; ms: number } | { kind: "down" };

export interface NetProxy {
  readonly port: number;
  setMode(mode: NetMode): void;
  close(): Promise<void>;
}

export async function startNetProxy(target: { host: string; port: number }): Promise<NetProxy> {
  const sockets = new Set<Socket>();
  let mode: NetMode = { kind: "up" };
  const server = createServer((client) => {
    if (mode.kind === "down") {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(target);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (b) => upstream.write(b));
    // A chunk never overtakes one still held back, whatever the mode is now: the stream keeps its order.
    let releaseAt = 0;
    upstream.on("data", (b) => {
      const now = Date.now();
      releaseAt = Math.max(now + (mode.kind === "delay" ? mode.ms : 0), releaseAt);
      if (releaseAt <= now) client.write(b);
      else setTimeout(() => client.writable && client.write(b), releaseAt - now);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    setMode(next) {
      mode = next;
      if (next.kind === "down") for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
