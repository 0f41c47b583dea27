import { describe, expect, it, vi } from "vitest";
import { AppError, type ConfigOf } from "@dsb/contracts";
import { checkTargets, classifyAddress, connectChecked, embeddedIpv4, type Lookup } from "./address-policy.ts";
import type { Driver } from "./drivers/types.ts";

const fakeDns = (map: Record<string, string[]>): Lookup => async (host) => {
  const a = map[host];
  if (!a) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
  return a.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};

const refusedWith = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
};

describe("address policy", () => {
  it.each([
    ["169.254.169.254", "cloud metadata"], ["169.254.1.1", "link-local"], ["fe80::1", "link-local"],
    ["fd00:ec2::254", "cloud metadata"], ["100.100.100.200", "cloud metadata"], ["0.0.0.0", "0.0.0.0/8"], ["0.1.2.3", "0.0.0.0/8"],
    ["224.0.0.1", "multicast"], ["ff02::1", "multicast"], ["255.255.255.255", "broadcast"],
    ["::ffff:169.254.169.254", "cloud metadata"], ["::ffff:a9fe:a9fe", "cloud metadata"], ["::", "unspecified"],
  ])("always refuses %s (%s), even with ALLOW_PRIVATE_HOSTS", async (ip, why) => {
    const e = await refusedWith(checkTargets([{ hostname: ip, port: 5432 }], { allowPrivateHosts: true }));
    expect(e.code).toBe("ADDRESS_NOT_ALLOWED");
    expect(e.message).toContain(`Connections to ${ip} are not allowed`);
    expect(e.message).toContain(why);
  });

  it.each(["127.0.0.1", "10.1.2.3", "172.16.0.5", "172.31.255.255", "192.168.1.1", "100.64.0.1", "::1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"])(
    "refuses private %s unless allowed", async (ip) => {
      const e = await refusedWith(checkTargets([{ hostname: ip, port: 1 }], { allowPrivateHosts: false }));
      expect(e.code).toBe("ADDRESS_NOT_ALLOWED");
      expect(e.message).toContain("ALLOW_PRIVATE_HOSTS=true");
      await expect(checkTargets([{ hostname: ip, port: 1 }], { allowPrivateHosts: true })).resolves.toHaveLength(1);
    });

  it("allows public addresses and returns the checked IP with the typed host name", async () => {
    const t = await checkTargets([{ hostname: "db.example.com", port: 5432 }], { allowPrivateHosts: false, lookup: fakeDns({ "db.example.com": ["93.184.216.34"] }) });
    expect(t).toEqual([{ address: "93.184.216.34", hostname: "db.example.com", port: 5432 }]);
    expect(classifyAddress("8.8.8.8").allowed).toBe(true);
    expect(classifyAddress("2606:4700::1111").allowed).toBe(true);
    expect(classifyAddress("172.32.0.1").allowed).toBe(true);
  });

  it("checks every address a name resolves to", async () => {
    const lookup = fakeDns({ "mixed.example.com": ["93.184.216.34", "169.254.169.254"], "inner.example.com": ["10.0.0.8"] });
    const e = await refusedWith(checkTargets([{ hostname: "mixed.example.com", port: 1 }], { allowPrivateHosts: true, lookup }));
    expect(e.message).toBe(
      "Connections to mixed.example.com are not allowed: it resolves to 169.254.169.254, and it is a cloud metadata endpoint. Use the database's own host name or public address; link-local and cloud metadata addresses are always refused.");
    const p = await refusedWith(checkTargets([{ hostname: "inner.example.com", port: 1 }], { allowPrivateHosts: false, lookup }));
    expect(p.message).toContain("it resolves to 10.0.0.8, and it is a private network address");
  });

  it("refuses metadata host names without resolving them", async () => {
    const lookup = vi.fn(fakeDns({}));
    const e = await refusedWith(checkTargets([{ hostname: "metadata.google.internal", port: 80 }], { allowPrivateHosts: true, lookup }));
    expect(e.code).toBe("ADDRESS_NOT_ALLOWED");
    expect(lookup).not.toHaveBeenCalled();
  });

  it("reports unknown hosts as CONNECTION_FAILED", async () => {
    const e = await refusedWith(checkTargets([{ hostname: "nope.invalid", port: 1 }], { allowPrivateHosts: false, lookup: fakeDns({}) }));
    expect(e.code).toBe("CONNECTION_FAILED");
    expect(e.message).toContain("Could not resolve host nope.invalid");
  });

  it("reads IPv4 inside IPv6", () => {
    expect(embeddedIpv4("::ffff:169.254.169.254")).toBe("169.254.169.254");
    expect(embeddedIpv4("::ffff:7f00:1")).toBe("127.0.0.1");
    expect(embeddedIpv4("64:ff9b::a9fe:a9fe")).toBe("169.254.169.254");
    expect(embeddedIpv4("2001:db8::1")).toBeNull();
  });

  it("never calls driver.connect for 169.254.169.254", async () => {
    const connect = vi.fn();
    const driver: Driver<ConfigOf<"postgresql">> = {
      type: "postgresql", dialect: "postgres",
      targets: (c) => [{ hostname: c.host!, port: c.port }],
      connect,
    };
    const config = { type: "postgresql", host: "169.254.169.254", port: 5432, allow_writes: false } as ConfigOf<"postgresql">;
    const e = await refusedWith(connectChecked(driver, config, { allowPrivateHosts: true }));
    expect(e.code).toBe("ADDRESS_NOT_ALLOWED");
    expect(connect).not.toHaveBeenCalled();
  });
});
