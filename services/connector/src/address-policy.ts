import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { AppError, type DatabaseConfig } from "@dsb/contracts";
import type { Connection, DialTarget, Driver } from "./drivers/types.ts";
import { SshTunnel } from "./ssh/tunnel.ts";

/** Resolves a host name to every address it has (injectable for tests). */
export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface AddressPolicyOptions {
  /** Let connections reach loopback and private ranges (ALLOW_PRIVATE_HOSTS). */
  allowPrivateHosts: boolean;
  lookup?: Lookup;
}

const defaultLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Names that mean a cloud metadata service whatever they resolve to. */
const METADATA_NAMES = new Set(["metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"]);
const METADATA_ADDRESSES = new Set(["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23"]);

type Verdict = { allowed: true } | { allowed: false; always: boolean; why: string };

const v4ToInt = (ip: string) => ip.split(".").reduce((n, p) => (n << 8) + Number(p), 0) >>> 0;
const inV4 = (ip: number, base: string, bits: number) => bits === 0 || ip >>> (32 - bits) === v4ToInt(base) >>> (32 - bits);

/** Expands an IPv6 address to eight 16-bit groups (handles `::` and a dotted IPv4 tail). */
export function ipv6Groups(ip: string): number[] {
  let s = ip.split("%")[0]!.toLowerCase();
  const tail = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (tail) {
    const n = v4ToInt(tail[1]!);
    s = s.slice(0, -tail[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const r = rest !== undefined && rest !== "" ? rest.split(":") : [];
  const fill = rest === undefined ? [] : Array(8 - h.length - r.length).fill("0");
  return [...h, ...fill, ...r].map((g) => parseInt(g, 16));
}

/**
 * The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`, the
 * deprecated compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), else null.
 */
export function embeddedIpv4(ip: string): string | null {
  const g = ipv6Groups(ip);
  const v4 = () => `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(5) && g[5] === 0xffff) return v4();
  if (zeros(6) && (g[6] !== 0 || g[7]! > 1)) return v4();
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4();
  return null;
}

/** Classifies one IP address (v4 or v6). */
export function classifyAddress(ip: string): Verdict {
  if (isIP(ip) === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4) return classifyAddress(v4);
    const g = ipv6Groups(ip);
    const canon = g.map((x) => x.toString(16)).join(":");
    if (METADATA_ADDRESSES.has(ip.toLowerCase()) || canon === "fd00:ec2:0:0:0:0:0:254" || canon === "fd00:ec2:0:0:0:0:0:23")
      return { allowed: false, always: true, why: "it is a cloud metadata endpoint" };
    if (g.every((x) => x === 0)) return { allowed: false, always: true, why: "it is the unspecified address" };
    if ((g[0]! & 0xffc0) === 0xfe80) return { allowed: false, always: true, why: "it is a link-local address" };
    if ((g[0]! & 0xff00) === 0xff00) return { allowed: false, always: true, why: "it is a multicast address" };
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return { allowed: false, always: false, why: "it is a loopback address" };
    if ((g[0]! & 0xfe00) === 0xfc00) return { allowed: false, always: false, why: "it is a private (unique local) address" };
    if ((g[0]! & 0xffc0) === 0xfec0) return { allowed: false, always: false, why: "it is a site-local address" };
    return { allowed: true };
  }
  if (METADATA_ADDRESSES.has(ip)) return { allowed: false, always: true, why: "it is a cloud metadata endpoint" };
  const n = v4ToInt(ip);
  if (inV4(n, "169.254.0.0", 16)) return { allowed: false, always: true, why: "it is a link-local address" };
  if (inV4(n, "0.0.0.0", 8)) return { allowed: false, always: true, why: "it is in 0.0.0.0/8 (\"this network\")" };
  if (n === 0xffffffff) return { allowed: false, always: true, why: "it is the broadcast address" };
  if (inV4(n, "224.0.0.0", 4)) return { allowed: false, always: true, why: "it is a multicast address" };
  if (inV4(n, "240.0.0.0", 4)) return { allowed: false, always: true, why: "it is a reserved address" };
  if (inV4(n, "127.0.0.0", 8)) return { allowed: false, always: false, why: "it is a loopback address" };
  for (const [base, bits] of [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16]] as const)
    if (inV4(n, base, bits)) return { allowed: false, always: false, why: "it is a private network address" };
  if (inV4(n, "100.64.0.0", 10)) return { allowed: false, always: false, why: "it is a carrier-grade NAT (shared) address" };
  return { allowed: true };
}

const refuse = (host: string, why: string, always: boolean) =>
  new AppError(
    "ADDRESS_NOT_ALLOWED",
    `Connections to ${host} are not allowed: ${why}. ` +
      (always
        ? "Use the database's own host name or public address; link-local and cloud metadata addresses are always refused."
        : "Set ALLOW_PRIVATE_HOSTS=true on the connector to allow loopback and private networks, or use a public address."),
  );

/** Strips the brackets users type around IPv6 literals (`[::1]`). */
const bare = (h: string) => h.trim().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();

/**
 * Resolves every target and checks every address it resolves to. Returns
 * the addresses to dial (the first allowed address of each target), so the
 * driver does not look the name up again.
 */
export async function checkTargets(targets: readonly { hostname: string; port: number }[], opts: AddressPolicyOptions): Promise<DialTarget[]> {
  const lookup = opts.lookup ?? defaultLookup;
  const out: DialTarget[] = [];
  for (const t of targets) {
    const host = bare(t.hostname);
    if (!host) throw new AppError("VALIDATION", "host is required");
    if (METADATA_NAMES.has(host)) throw refuse(t.hostname, "it is a cloud metadata endpoint", true);
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await lookup(host)).map((a) => a.address);
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new AppError(
          "CONNECTION_FAILED",
          code === "ENOTFOUND" || code === "ENODATA"
            ? `Could not resolve host ${t.hostname}: check the host name (and that this server can reach its DNS)`
            : `Could not resolve host ${t.hostname} (${code ?? "DNS error"}); try again or use an IP address`,
        );
      }
      if (addresses.length === 0) throw new AppError("CONNECTION_FAILED", `Host ${t.hostname} has no addresses; check the host name`);
    }
    // Every address must pass: a name resolving to one public and one metadata address is refused.
    for (const a of addresses) {
      const v = classifyAddress(a);
      if (v.allowed) continue;
      if (!v.always && opts.allowPrivateHosts) continue;
      throw refuse(t.hostname, a === host ? v.why : `it resolves to ${a}, and ${v.why}`, v.always);
    }
    out.push({ address: addresses[0]!, hostname: host, port: t.port });
  }
  return out;
}

/** The policy step every connect goes through: targets of the driver, checked. */
export async function dialTargets<C extends DatabaseConfig>(driver: Driver<C>, config: C, opts: AddressPolicyOptions): Promise<DialTarget[]> {
  return checkTargets(await driver.targets(config), opts);
}

/**
 * Checks then connects; `connect` is never reached for a refused target. Behind SSH the
 * policy checks the SSH host (the database host is reached from the bastion and may be
 * private) and every database connection is a channel of one tunnel, closed with the pool.
 */
export async function connectChecked<C extends DatabaseConfig>(driver: Driver<C>, config: C, opts: AddressPolicyOptions): Promise<Connection> {
  const ssh = "ssh" in config ? config.ssh : undefined;
  if (!ssh) return driver.connect(config, await dialTargets(driver, config, opts));
  const [bastion] = await checkTargets([{ hostname: ssh.host, port: ssh.port }], opts);
  const tunnel = new SshTunnel(ssh, bastion!);
  try {
    await tunnel.ready();
    const targets = (await driver.targets(config)).map((t): DialTarget => ({
      address: t.hostname, hostname: t.hostname, port: t.port, forward: () => tunnel.forward(t.hostname, t.port),
    }));
    return withTunnel(await driver.connect(config, targets), tunnel);
  } catch (e) {
    tunnel.close();
    throw e;
  }
}

/** The pool's connection, closing its tunnel after itself and telling the host key it saw. */
function withTunnel(conn: Connection, tunnel: SshTunnel): Connection {
  const close = conn.close.bind(conn);
  // Set on the driver's own object (not a wrapper) so optional methods such as copyCsv stay visible.
  conn.close = async () => {
    try {
      await close();
    } finally {
      tunnel.close();
    }
  };
  conn.sshHostKeySha256 = () => tunnel.hostKeySha256;
  return conn;
}
