import pg from "pg";
import { expect, it } from "vitest";
import { AppError } from "@dsb/contracts";
import { freePort } from "../../../../test/support/nats-server.ts";
import { isDatabaseUnavailable } from "./unavailable.ts";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

it("tells a database that is away from a statement that is wrong", async () => {
  for (const e of [
    withCode("terminating connection due to administrator command", "57P01"),
    withCode("the database system is starting up", "57P03"),
    withCode("connection failure", "08006"),
    new Error("Connection terminated unexpectedly"),
    new Error("timeout exceeded when trying to connect"),
    new Error("Connection terminated due to connection timeout", { cause: new Error("Connection terminated unexpectedly") }),
  ]) expect(isDatabaseUnavailable(e), e.message).toBe(true);
  for (const e of [
    withCode('relation "nope" does not exist', "42P01"),
    withCode("duplicate key value violates unique constraint", "23505"),
    withCode("unterminated /* comment at or near \"/* Connection terminated\"", "42601"),
    new AppError("NOT_FOUND", "Data source not found"),
    "Connection terminated",
  ]) expect(isDatabaseUnavailable(e)).toBe(false);
});

it("a refused connection, as node-postgres reports it", async () => {
  const c = new pg.Client({ host: "127.0.0.1", port: await freePort(), user: "postgres" });
  const e = await c.connect().then(() => null, (err: unknown) => err);
  expect(isDatabaseUnavailable(e)).toBe(true);
});
