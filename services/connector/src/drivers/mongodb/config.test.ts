import { describe, expect, it } from "vitest";
import { AppError, MongodbConfigSchema, parseDatabaseConfig } from "@dsb/contracts";
import { checkTargets } from "../../address-policy.ts";
import { mongoClientSetup, parseMongoUrl, pinnedLookup, srvHosts, type SrvResolver } from "./config.ts";
import { createMongodbDriver } from "./driver.ts";

const cfg = (c: Record<string, unknown>) => MongodbConfigSchema.parse({ type: "mongodb", ...c });

/** A DNS that answers from a table (the SRV records of MongoDB Atlas-like clusters). */
const fakeDns = (srv: Record<string, { name: string; port: number }[]>, txt: Record<string, string[][]> = {}): SrvResolver => ({
  resolveSrv: async (n) => {
    if (!srv[n]) throw Object.assign(new Error("queryTxt ENOTFOUND"), { code: "ENOTFOUND" });
    return srv[n];
  },
  resolveTxt: async (n) => {
    if (!txt[n]) throw Object.assign(new Error("ENODATA"), { code: "ENODATA" });
    return txt[n];
  },
});

describe("mongodb config", () => {
  it("validates: a host or a mongodb:// string, and a database (field or the string's path)", () => {
    expect(() => parseDatabaseConfig({ type: "mongodb", database: "d" })).toThrow(/host/);
    expect(() => parseDatabaseConfig({ type: "mongodb", host: "h" })).toThrow(/database is required/);
    expect(() => parseDatabaseConfig({ type: "mongodb", connection_string: "postgres://h/d" })).toThrow(/mongodb:\/\//);
    expect(parseDatabaseConfig({ type: "mongo", connection_string: "mongodb://h/shop" })).toMatchObject({ type: "mongodb", port: 27017, tls: false });
    expect(parseDatabaseConfig({ type: "mongodb", host: "h", database: "d" })).toMatchObject({ port: 27017 });
  });

  it("parses seed lists, IPv6, percent-encoded credentials, and options case-insensitively", () => {
    expect(parseMongoUrl("mongodb://us%40r:p%3Ass@a.example.com,b.example.com:27018,[::1]:27019/shop?replicaset=rs0&AUTHSOURCE=admin")).toEqual({
      srv: false, username: "us@r", password: "p:ss", database: "shop",
      hosts: [{ hostname: "a.example.com", port: 27017 }, { hostname: "b.example.com", port: 27018 }, { hostname: "::1", port: 27019 }],
      options: { replicaSet: "rs0", authSource: "admin" },
    });
    expect(parseMongoUrl("mongodb+srv://cluster0.abcde.mongodb.net/")).toMatchObject({ srv: true, hosts: [{ hostname: "cluster0.abcde.mongodb.net" }] });
  });

  it("refuses options that read local files, dial a proxy, or take credentials from the machine", () => {
    for (const opt of ["tlsCAFile=/etc/passwd", "tlsCertificateKeyFile=/k.pem", "proxyHost=10.0.0.1", "authMechanismProperties=ENVIRONMENT:azure"]) {
      expect(() => parseMongoUrl(`mongodb://h/d?${opt}`)).toThrow(/not supported here/);
    }
    for (const mech of ["MONGODB-AWS", "MONGODB-OIDC", "GSSAPI", "MONGODB-X509"]) expect(() => parseMongoUrl(`mongodb://h/d?authMechanism=${mech}`)).toThrow(AppError);
    expect(() => parseMongoUrl("mongodb+srv://a.example.com:27017/d")).toThrow(/one host name and no port/);
  });

  it("resolves mongodb+srv:// itself and refuses records outside the name's parent domain", async () => {
    const dns = fakeDns({
      "_mongodb._tcp.cluster0.abcde.example.net": [{ name: "shard-00-00.abcde.example.net", port: 27017 }, { name: "shard-00-01.abcde.example.net.", port: 27017 }],
      "_mongodb._tcp.evil.abcde.example.net": [{ name: "metadata.google.internal", port: 80 }],
    });
    expect(await srvHosts("cluster0.abcde.example.net", "mongodb", dns)).toEqual([
      { hostname: "shard-00-00.abcde.example.net", port: 27017 }, { hostname: "shard-00-01.abcde.example.net", port: 27017 },
    ]);
    await expect(srvHosts("evil.abcde.example.net", "mongodb", dns)).rejects.toThrow(/outside abcde.example.net/);
    await expect(srvHosts("missing.example.net", "mongodb", dns)).rejects.toThrow(/SRV records/);
  });

  it("checks every SRV host with the address policy before anything is dialled", async () => {
    const driver = createMongodbDriver(fakeDns({ "_mongodb._tcp.c.corp.example.com": [{ name: "n1.corp.example.com", port: 27017 }, { name: "n2.corp.example.com", port: 27017 }] }));
    const config = cfg({ connection_string: "mongodb+srv://u:p@c.corp.example.com/app" });
    const targets = await driver.targets(config);
    expect(targets).toEqual([{ hostname: "n1.corp.example.com", port: 27017 }, { hostname: "n2.corp.example.com", port: 27017 }]);
    const lookup = async (h: string) => [{ address: h.startsWith("n1") ? "203.0.113.5" : "169.254.169.254", family: 4 }];
    await expect(checkTargets(targets, { allowPrivateHosts: true, lookup })).rejects.toMatchObject({ code: "ADDRESS_NOT_ALLOWED" });
  });

  it("pins every dial to the checked address and refuses names that were not checked", async () => {
    const lookup = pinnedLookup([{ hostname: "db.example.com", address: "203.0.113.7", port: 27017 }]);
    const one = await new Promise((r) => lookup("DB.example.com", {}, (e, a, f) => r([e, a, f])));
    expect(one).toEqual([null, "203.0.113.7", 4]);
    const all = await new Promise((r) => lookup("db.example.com", { all: true }, (e, a) => r([e, a])));
    expect(all).toEqual([null, [{ address: "203.0.113.7", family: 4 }]]);
    const other = await new Promise<unknown>((r) => lookup("member2.example.com", {}, (e) => r(e)));
    expect((other as Error).message).toMatch(/not one of the checked hosts/);
  });

  it("builds the client: checked hosts by name, credentials as options, one host connected directly, TLS for srv", () => {
    const t = (hostname: string, address: string) => ({ hostname, address, port: 27017 });
    const a = mongoClientSetup(cfg({ host: "db.example.com", database: "shop", username: "u", password: "p@ss/word" }), [t("db.example.com", "203.0.113.7")]);
    expect(a.url).toBe("mongodb://db.example.com:27017/");
    expect(a.options).toMatchObject({ auth: { username: "u", password: "p@ss/word" }, authSource: "admin", directConnection: true, tls: false });
    expect(a.url).not.toContain("p@ss");
    const b = mongoClientSetup(cfg({ connection_string: "mongodb+srv://u:pw@c.example.net/shop?readPreference=secondary" }),
      [t("n1.example.net", "203.0.113.1"), t("n2.example.net", "203.0.113.2")], { replicaSet: "atlas-x", authSource: "admin" });
    expect(b.url).toBe("mongodb://n1.example.net:27017,n2.example.net:27017/?replicaSet=atlas-x&readPreference=secondary");
    expect(b.options).toMatchObject({ tls: true, authSource: "admin", auth: { username: "u", password: "pw" } });
    expect(b.options.directConnection).toBeUndefined();
    const c = mongoClientSetup(cfg({ connection_string: "mongodb://u:pw@h1/shop", auth_source: "users" }), [t("h1", "10.0.0.1")]);
    expect(c.options.authSource).toBe("users");
    const d = mongoClientSetup(cfg({ connection_string: "mongodb://u:pw@h1/shop" }), [t("h1", "10.0.0.1")]);
    expect(d.options.authSource).toBe("shop");
  });
});
