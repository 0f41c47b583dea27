/**
 * Which protocol a server speaks, told from its first bytes: used when a
 * connection test fails (or hangs) to say "this port is MySQL, not PostgreSQL"
 * instead of an SSL error or a firewall guess. Dials the address the policy
 * checked (never a fresh DNS lookup) and sends at most 12 bytes: a PostgreSQL
 * SSLRequest, then an empty line for a server still silent (HTTP).
 */
import { connect } from "node:net";
import type { DbType } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";

export const PROTOCOLS = ["postgresql", "mysql", "http", "tls", "ssh", "nats", "redis", "unknown"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** How each protocol is named in a message. */
const LOOKS_LIKE: Readonly<Record<Protocol, string>> = {
  postgresql: "PostgreSQL", mysql: "MySQL/MariaDB", http: "an HTTP server (ClickHouse's HTTP interface, a web server…)",
  tls: "a TLS server", ssh: "an SSH server", nats: "a NATS server", redis: "Redis", unknown: "an unknown server",
};

/** PostgreSQL's SSLRequest: length 8, code 80877103. Every PostgreSQL answers it with one byte, 'S' or 'N'. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** A server that speaks first: MySQL's greeting (or its error packet), SSH, NATS. */
function classifyGreeting(b: Buffer): Protocol {
  // A MySQL packet: 3-byte little-endian length, sequence 0, then protocol version 10 (or 0xff, an error such as "host blocked").
  if (b.length >= 5 && b[3] === 0 && (b[4] === 10 || b[4] === 0xff) && b.readUIntLE(0, 3) > 0 && b.readUIntLE(0, 3) < 4096) return "mysql";
  const head = b.subarray(0, 8).toString("latin1");
  if (head.startsWith("SSH-")) return "ssh";
  if (head.startsWith("INFO {")) return "nats";
  return "unknown";
}

/** The answer to an SSLRequest from a server that waited for the client. */
function classifyReply(b: Buffer): Protocol {
  if (b.length >= 1 && (b[0] === 0x53 || b[0] === 0x4e) && b.length === 1) return "postgresql"; // 'S' / 'N'
  if (b[0] === 0x45 && b.length > 5) return "postgresql"; // 'E': an ErrorResponse (very old servers)
  const head = b.subarray(0, 8).toString("latin1");
  if (head.startsWith("HTTP/")) return "http";
  if (head.startsWith("-ERR")) return "redis";
  if (b[0] === 0x15 && b[1] === 0x03) return "tls"; // a TLS alert
  return "unknown";
}

/**
 * Reads what the server at `target` sends within `greetMs`; if nothing, sends
 * an SSLRequest and reads the reply. Resolves "unknown" on silence, a close
 * or any error, within `totalMs` at most.
 */
export function probeProtocol(target: Pick<DialTarget, "address" | "port">, o: { greetMs?: number; totalMs?: number } = {}): Promise<Protocol> {
  const greetMs = o.greetMs ?? 300;
  const totalMs = o.totalMs ?? 1500;
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    let sent = false;
    const socket = connect({ host: target.address, port: target.port });
    const done = (p: Protocol) => {
      clearTimeout(greet);
      clearTimeout(overall);
      socket.destroy();
      resolve(p);
    };
    const overall = setTimeout(() => done(sent ? classifyReply(data) : classifyGreeting(data)), totalMs);
    const greet = setTimeout(() => {
      if (data.length === 0 && !socket.destroyed) {
        sent = true;
        socket.write(SSL_REQUEST);
        // Still silent: end the "request line" so an HTTP server answers (400) instead of waiting for more.
        setTimeout(() => { if (data.length === 0 && !socket.destroyed) socket.write("\r\n\r\n"); }, greetMs).unref();
      }
    }, greetMs);
    socket.once("connect", () => greet.refresh());
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (!sent) {
        const p = classifyGreeting(data);
        if (p !== "unknown" || data.length >= 64) done(p);
      } else if (data.length >= 1) {
        // A PostgreSQL answer is exactly one byte: give a longer answer a moment to arrive whole.
        setTimeout(() => done(classifyReply(data)), data.length === 1 ? 50 : 0);
      }
    });
    socket.on("error", () => done(data.length ? (sent ? classifyReply(data) : classifyGreeting(data)) : "unknown"));
    socket.on("close", () => done(data.length ? (sent ? classifyReply(data) : classifyGreeting(data)) : "unknown"));
  });
}

/** The protocol a driver expects at its port, or null when it cannot be told by a probe (SDKs over HTTPS). */
export function expectedProtocol(type: DbType, config: { protocol?: string; ssl?: unknown }): Protocol | "tds" | null {
  switch (type) {
    case "postgresql": case "redshift": return "postgresql";
    case "mysql": return "mysql";
    case "clickhouse": return config.protocol === "https" ? "tls" : "http";
    case "mssql": return "tds";
    default: return null;
  }
}

const SPEAKS: Readonly<Record<Protocol | "tds", string>> = {
  postgresql: "the PostgreSQL protocol", mysql: "the MySQL protocol", http: "ClickHouse's HTTP interface", tls: "TLS (HTTPS)",
  tds: "SQL Server's protocol (TDS)", ssh: "SSH", nats: "NATS", redis: "Redis", unknown: "",
};

/**
 * The sentence for a server of another protocol, e.g. "The server at
 * 127.0.0.1:3306 does not speak the PostgreSQL protocol; it looks like
 * MySQL/MariaDB. Check the port (PostgreSQL usually listens on 5432)", or null
 * when `found` is what was expected or could not be told.
 */
export function wrongProtocolMessage(where: { hostname: string; port: number }, expected: Protocol | "tds", found: Protocol, product: { label: string; port: number | null }): string | null {
  if (found === "unknown" || found === expected) return null;
  const usual = product.port ? ` (${product.label} usually listens on ${product.port})` : "";
  return `The server at ${where.hostname}:${where.port} does not speak ${SPEAKS[expected]}; it looks like ${LOOKS_LIKE[found]}. Check the port${usual}`;
}
