import { describe, expect, it } from "vitest";
import type { ConfigOf } from "@dsb/contracts";
import { parseConnectionString, pgSsl, resolvePgOptions } from "./config.ts";
import { connectionError, queryError } from "./errors.ts";
import { byteaToBase64, timestampToIso, timestamptzToIso } from "./types.ts";
import { postgresqlDriver } from "./driver.ts";

const base = { type: "postgresql", port: 5432, allow_writes: false } as const;

describe("postgresql config", () => {
  it("parses URLs and key=value strings, ignoring file paths", () => {
    expect(parseConnectionString("postgresql://u%40x:p%3Aw@db.example.com:6543/sales?sslmode=require&sslrootcert=/etc/passwd")).toEqual({
      host: "db.example.com", port: "6543", user: "u@x", password: "p:w", dbname: "sales", sslmode: "require",
    });
    expect(parseConnectionString("host=db port=5433 dbname=x user=u password='a b\\'c' sslcert=/k")).toEqual({ host: "db", port: "5433", dbname: "x", user: "u", password: "a b'c" });
    expect(() => parseConnectionString("mysql://x")).toThrow(/not a valid PostgreSQL URL/);
  });

  it("merges the connection string over discrete fields and refuses sockets", () => {
    const o = resolvePgOptions({ ...base, host: "ignored", database: "d", connection_string: "postgres://u:p@h.example.com/db2" } as ConfigOf<"postgresql">, 5432);
    expect(o).toMatchObject({ host: "h.example.com", port: 5432, database: "db2", user: "u", password: "p", sslMode: "prefer" });
    expect(() => resolvePgOptions({ ...base, connection_string: "host=/run/postgresql" } as ConfigOf<"postgresql">, 5432)).toThrow(/Unix socket/);
    expect(postgresqlDriver.targets({ ...base, connection_string: "postgresql://u@10.0.0.1:7000/x" } as ConfigOf<"postgresql">)).toEqual([{ hostname: "10.0.0.1", port: 7000 }]);
  });

  it("maps ssl modes to node-postgres options with the typed host as servername", () => {
    const o = resolvePgOptions({ ...base, host: "db.example.com", ssl: { mode: "verify-full", ca: "CA" } } as ConfigOf<"postgresql">, 5432);
    const t = { address: "93.184.216.34", hostname: "db.example.com", port: 5432 };
    expect(pgSsl(o, t, "disable")).toBe(false);
    expect(pgSsl(o, t, "require")).toEqual({ servername: "db.example.com", rejectUnauthorized: false });
    expect(pgSsl(o, t, "verify-full")).toEqual({ servername: "db.example.com", ca: "CA", rejectUnauthorized: true });
    const ca = pgSsl(o, t, "verify-ca") as { checkServerIdentity: () => unknown; rejectUnauthorized: boolean };
    expect(ca.rejectUnauthorized).toBe(true);
    expect(ca.checkServerIdentity()).toBeUndefined();
  });

  it("maps values", () => {
    expect(timestampToIso("2024-01-02 03:04:05")).toBe("2024-01-02T03:04:05");
    expect(timestamptzToIso("2024-01-02 03:04:05+00")).toBe("2024-01-02T03:04:05Z");
    expect(timestamptzToIso("2024-01-02 00:30:00.5-05:30")).toBe("2024-01-02T06:00:00.5Z");
    expect(timestamptzToIso("infinity")).toBe("infinity");
    expect(timestamptzToIso("2024-01-02 03:04:05.123456+00")).toBe("2024-01-02T03:04:05.123456Z");
    expect(timestamptzToIso("0050-01-02 03:04:05+00")).toBe("0050-01-02T03:04:05Z");
    expect(timestamptzToIso("0044-03-15 00:00:00+00 BC")).toBe("0044-03-15 00:00:00+00 BC");
    expect(timestamptzToIso("10000-01-01 00:00:00+00")).toBe("10000-01-01 00:00:00+00");
    expect(byteaToBase64("\\x00ff")).toBe("AP8=");
  });

  it("turns errors into sentences without secrets", () => {
    const ctx = { hostname: "db.example.com", port: 5432, user: "reader", secrets: ["s3cret-pw"] };
    expect(connectionError({ code: "28P01", message: 'password authentication failed for user "reader"' }, ctx).message)
      .toBe("Password authentication failed for user reader; check the username and password");
    expect(connectionError({ code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND" }, ctx).message).toContain("Unknown host db.example.com");
    expect(connectionError({ code: "28000", message: 'no pg_hba.conf entry for host "1.2.3.4", user "reader", database "d", no encryption' }, ctx).message)
      .toContain('set ssl.mode to "require"');
    expect(connectionError({ message: "The server does not support SSL connections" }, ctx).message).toContain('"disable"');
    expect(connectionError({ code: "SELF_SIGNED_CERT_IN_CHAIN", message: "self-signed certificate in certificate chain" }, ctx).message).toContain("ssl.ca");
    expect(queryError({ code: "42601", message: "syntax error near s3cret-pw" }, ctx, { timeoutMs: 1, reason: null }).message).toBe("syntax error near ********");
    expect(queryError({ code: "57014", message: "canceling statement due to statement timeout" }, ctx, { timeoutMs: 250, reason: null }))
      .toMatchObject({ kind: "timeout", message: "Query exceeded its timeout of 250 ms and was cancelled" });
  });
});
