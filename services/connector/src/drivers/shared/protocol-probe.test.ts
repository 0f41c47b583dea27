import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "@dsb/contracts";
import { DriverError } from "../types.ts";
import { withProtocolCheck } from "./protocol-check.ts";
import { probeProtocol } from "./protocol-probe.ts";

/** A local server that answers like `behave` and counts its connections. */
async function fakeServer(behave: (s: Socket) => void) {
  let connections = 0;
  const open = new Set<Socket>();
  const server = createServer((s) => { connections++; open.add(s); s.on("error", () => undefined); behave(s); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { target: { address: "127.0.0.1", hostname: "db.example", port }, connections: () => connections, close: () => new Promise<void>((r) => { for (const s of open) s.destroy(); server.close(() => r()); }) };
}
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => { for (const s of servers.splice(0)) await s.close(); });
const serve = async (behave: (s: Socket) => void) => { const f = await fakeServer(behave); servers.push(f); return f; };

// A MariaDB greeting's first bytes: length 0x5a, sequence 0, protocol version 10, "5.5.5-10.11".
const GREETING = Buffer.concat([Buffer.from([0x5a, 0, 0, 0, 10]), Buffer.from("5.5.5-10.11.6-MariaDB\0")]);
const pgConfig = { type: "postgresql", host: "db.example", port: 5432 } as DatabaseConfig;

describe("protocol probe", () => {
  it("tells MySQL by its greeting, PostgreSQL by its answer to SSLRequest, HTTP by its 400, else unknown", async () => {
    const mysql = await serve((s) => s.write(GREETING));
    const pg = await serve((s) => s.once("data", (d) => { if (d.length === 8 && d.readUInt32BE(4) === 80877103) s.write("N"); }));
    const http = await serve((s) => s.on("data", (d) => { if (d.includes("\r\n\r\n")) s.end("HTTP/1.1 400 Bad Request\r\n\r\n"); }));
    const mute = await serve(() => undefined);
    expect(await probeProtocol(mysql.target)).toBe("mysql");
    expect(await probeProtocol(pg.target)).toBe("postgresql");
    expect(await probeProtocol(http.target)).toBe("http");
    expect(await probeProtocol(mute.target, { totalMs: 800 })).toBe("unknown");
  });

  it("a failed test against another protocol says so, naming the host as typed", async () => {
    const mysql = await serve((s) => s.write(GREETING));
    const err = await withProtocolCheck(pgConfig, [mysql.target], async () => { throw new DriverError("connection", "The server does not support SSL connections"); }).catch((e: unknown) => e);
    expect((err as DriverError).message).toBe(`The server at db.example:${mysql.target.port} does not speak the PostgreSQL protocol; it looks like MySQL/MariaDB. Check the port (PostgreSQL usually listens on 5432)`);
  });

  it("the server's own refusal in the expected protocol (a wrong password) is kept and nothing is probed", async () => {
    const pg = await serve((s) => s.once("data", () => s.write("N")));
    const refused = new DriverError("connection", "Password authentication failed for user u; check the username and password", { cause: { code: "28P01" } });
    const err = await withProtocolCheck(pgConfig, [pg.target], async () => { throw refused; }).catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(pg.connections()).toBe(0);
  });

  it("a failure the right server explains keeps the driver's message", async () => {
    const pg = await serve((s) => s.once("data", () => s.write("S")));
    const closed = new DriverError("connection", "The server closed the connection during login");
    const err = await withProtocolCheck(pgConfig, [pg.target], async () => { throw closed; }).catch((e: unknown) => e);
    expect(err).toBe(closed);
    expect(pg.connections()).toBe(1);
  });
});
