import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { Binary, BSON, Long, type Document } from "bson";
import { Aggregator, Query } from "mingo";

/**
 * A local stand-in for a MongoDB server, enough for the official driver: the wire protocol
 * (OP_MSG, and OP_QUERY/OP_REPLY for a legacy hello), hello/isMaster, ping, buildInfo,
 * SCRAM-SHA-256 (saslStart/saslContinue), listCollections, count, aggregate with cursors
 * (batchSize, getMore, killCursors), maxTimeMS on "slow" collections, endSessions, killOp.
 * Pipelines run on in-memory documents with `mingo`, except a leading `$sample`, done here
 * without replacement as MongoDB does. Views are a collection plus a pipeline. Every command
 * received is recorded, so tests can prove which commands the driver sent.
 */
export interface MongoStandIn {
  /** host:port to put in a config. */
  host: string;
  port: number;
  /** Every command received: its name and database. */
  commands: { name: string; db: string }[];
  /** Aggregates on slow collections still waiting (neither answered nor dropped). */
  running(): number;
  /** Cursors open on the server. */
  openCursors(): number;
  setCollection(db: string, name: string, docs: Document[]): void;
  setView(db: string, name: string, viewOn: string, pipeline: Document[]): void;
  close(): Promise<void>;
}

export interface MongoStandInOptions {
  /** When set, every command but the handshake needs a SCRAM-SHA-256 login as this user. */
  user?: { name: string; password: string; db?: string };
  version?: string;
  /** Aggregates on these collections never finish: they wait for maxTimeMS, or the socket to close. */
  slowCollections?: string[];
}

type Entry = { docs: Document[] } | { viewOn: string; pipeline: Document[] };
interface ServerCursor { docs: Document[]; ns: string }
interface Conversation { user: string; db: string; clientFirstBare: string; serverFirst: string; nonce: string; done: boolean }
interface Session { authenticated: boolean; sasl: Conversation | null; waits: Set<() => void> }

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const ITERATIONS = 4096;

const fail = (code: number, codeName: string, errmsg: string): Document => ({ ok: 0, errmsg, code, codeName });
const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();
const attrs = (s: string) => Object.fromEntries(s.split(",").map((p) => [p.slice(0, 1), p.slice(2)]));

export async function startMongoStandIn(opts: MongoStandInOptions = {}): Promise<MongoStandIn> {
  const version = opts.version ?? "7.0.14";
  const data = new Map<string, Map<string, Entry>>();
  const ns = (db: string) => {
    let m = data.get(db);
    if (!m) data.set(db, (m = new Map()));
    return m;
  };
  const cursors = new Map<number, ServerCursor>();
  const commands: { name: string; db: string }[] = [];
  const sockets = new Set<Socket>();
  const slow = new Set(opts.slowCollections ?? []);
  const salt = randomBytes(16);
  let nextCursor = 1000;
  let nextConn = 1;
  let running = 0;

  /** A collection's documents and the pipeline of the views in front of it. */
  const resolve = (db: string, name: string): { docs: Document[]; pipeline: Document[] } => {
    let pipeline: Document[] = [];
    let entry = ns(db).get(name);
    for (let hops = 0; entry && "viewOn" in entry && hops < 20; hops++) {
      pipeline = [...entry.pipeline, ...pipeline];
      entry = ns(db).get(entry.viewOn);
    }
    return { docs: entry && "docs" in entry ? entry.docs : [], pipeline };
  };

  const run = (docs: Document[], pipeline: Document[]): Document[] => {
    let input = docs.map((d) => ({ ...d }));
    let rest = pipeline;
    const sample = rest[0]?.$sample as { size?: number } | undefined;
    if (sample) {
      for (let i = input.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [input[i], input[j]] = [input[j]!, input[i]!];
      }
      input = input.slice(0, sample.size ?? 0);
      rest = rest.slice(1);
    }
    return rest.length ? (new Aggregator(rest).run(input) as Document[]) : input;
  };

  const firstBatch = (docs: Document[], nsName: string, batchSize: number, key: "firstBatch" | "nextBatch", id?: number): Document => {
    const batch = docs.slice(0, batchSize);
    const rest = docs.slice(batchSize);
    let cursorId = 0;
    if (rest.length) {
      cursorId = id ?? nextCursor++;
      cursors.set(cursorId, { docs: rest, ns: nsName });
    } else if (id !== undefined) cursors.delete(id);
    return { cursor: { id: Long.fromNumber(cursorId), ns: nsName, [key]: batch }, ok: 1 };
  };

  const helloReply = (body: Document, connectionId: number): Document => ({
    helloOk: true, isWritablePrimary: true, ismaster: true, maxBsonObjectSize: 16 * 1024 * 1024, maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000, localTime: new Date(), logicalSessionTimeoutMinutes: 30, connectionId, minWireVersion: 0, maxWireVersion: 21,
    readOnly: false, ...(body.saslSupportedMechs && opts.user ? { saslSupportedMechs: ["SCRAM-SHA-256"] } : {}), ok: 1,
  });

  const saslStart = (s: Session, body: Document, db: string): Document => {
    if (body.mechanism !== "SCRAM-SHA-256") return fail(2, "BadValue", `Unsupported mechanism ${String(body.mechanism)}`);
    const text = Buffer.from((body.payload as Binary).buffer).toString("utf8");
    const clientFirstBare = text.replace(/^[^,]*,[^,]*,/, "");
    const a = attrs(clientFirstBare);
    const nonce = `${a.r}${randomBytes(18).toString("base64")}`;
    const serverFirst = `r=${nonce},s=${salt.toString("base64")},i=${ITERATIONS}`;
    s.sasl = { user: (a.n ?? "").replace(/=2C/g, ",").replace(/=3D/g, "="), db, clientFirstBare, serverFirst, nonce, done: false };
    return { conversationId: 1, done: false, payload: new Binary(Buffer.from(serverFirst)), ok: 1 };
  };

  const saslContinue = (s: Session, body: Document): Document => {
    const c = s.sasl;
    if (!c) return fail(17, "ProtocolError", "No SASL session state found");
    if (c.done) return { conversationId: 1, done: true, payload: new Binary(Buffer.alloc(0)), ok: 1 };
    const text = Buffer.from((body.payload as Binary).buffer).toString("utf8");
    const withoutProof = text.replace(/,p=[^,]*$/, "");
    const a = attrs(text);
    const authMessage = `${c.clientFirstBare},${c.serverFirst},${withoutProof}`;
    const user = opts.user;
    const password = user && c.user === user.name && c.db === (user.db ?? "admin") ? user.password : randomBytes(16).toString("hex");
    const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(a.p ?? "", "base64");
    const expected = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    s.sasl = null;
    if (a.r !== c.nonce || proof.length !== expected.length || !timingSafeEqual(proof, expected)) return fail(18, "AuthenticationFailed", "Authentication failed.");
    s.authenticated = true;
    s.sasl = { ...c, done: true };
    const serverSignature = hmac(hmac(salted, "Server Key"), authMessage).toString("base64");
    return { conversationId: 1, done: true, payload: new Binary(Buffer.from(`v=${serverSignature}`)), ok: 1 };
  };

  /** Holds a slow aggregate until maxTimeMS passes (answered) or the client goes away (never answered). */
  const wait = (s: Session, maxTimeMS: number | undefined): Promise<Document | null> => new Promise((done) => {
    running++;
    let timer: NodeJS.Timeout | undefined;
    const finish = (reply: Document | null) => {
      running--;
      if (timer) clearTimeout(timer);
      s.waits.delete(gone);
      done(reply);
    };
    const gone = () => finish(null);
    s.waits.add(gone);
    if (maxTimeMS) timer = setTimeout(() => finish(fail(50, "MaxTimeMSExpired", "operation exceeded time limit")), maxTimeMS);
  });

  const OPEN = new Set(["hello", "ismaster", "saslstart", "saslcontinue", "ping", "buildinfo", "endsessions"]);

  async function command(s: Session, body: Document, connectionId: number): Promise<Document | null> {
    const name = Object.keys(body)[0] ?? "";
    const db = typeof body.$db === "string" ? body.$db : "admin";
    commands.push({ name, db });
    const lower = name.toLowerCase();
    if (opts.user && !s.authenticated && !OPEN.has(lower)) return fail(13, "Unauthorized", `command ${name} requires authentication`);
    switch (lower) {
      case "hello": case "ismaster": return helloReply(body, connectionId);
      case "ping": case "endsessions": case "killop": return { ok: 1 };
      case "buildinfo": return { version, versionArray: [...version.split(".").map(Number), 0], ok: 1 };
      case "saslstart": return saslStart(s, body, db);
      case "saslcontinue": return saslContinue(s, body);
      case "listcollections": {
        const infos = [...ns(db)].map(([n, e]) => ("viewOn" in e
          ? { name: n, type: "view", options: { viewOn: e.viewOn, pipeline: e.pipeline }, info: { readOnly: true } }
          : { name: n, type: "collection", options: {}, info: { readOnly: false } }));
        const filter = (body.filter as Document | undefined) ?? {};
        const matched = new Query(filter).find(infos).all() as Document[];
        return firstBatch(body.nameOnly ? matched.map((i) => ({ name: i.name, type: i.type })) : matched, `${db}.$cmd.listCollections`, 1_000_000, "firstBatch");
      }
      case "count": {
        const { docs, pipeline } = resolve(db, String(body.count));
        const query = (body.query as Document | undefined) ?? {};
        const all = run(docs, pipeline);
        return { n: Object.keys(query).length ? new Query(query).find(all).all().length : all.length, ok: 1 };
      }
      case "aggregate": {
        if (typeof body.aggregate !== "string") return fail(2, "BadValue", "aggregate on a database is not supported by the stand-in");
        const coll = body.aggregate;
        const batchSize = Number((body.cursor as Document | undefined)?.batchSize ?? 101);
        if (slow.has(coll)) return wait(s, body.maxTimeMS as number | undefined);
        const { docs, pipeline } = resolve(db, coll);
        let out: Document[];
        try {
          out = run(docs, [...pipeline, ...(body.pipeline as Document[])]);
        } catch (e) {
          return fail(40324, "Location40324", (e as Error).message);
        }
        return firstBatch(out, `${db}.${coll}`, batchSize, "firstBatch");
      }
      case "getmore": {
        const id = Number(body.getMore);
        const c = cursors.get(id);
        if (!c) return fail(43, "CursorNotFound", `cursor id ${id} not found`);
        return firstBatch(c.docs, c.ns, Number(body.batchSize ?? 101), "nextBatch", id);
      }
      case "killcursors": {
        const ids = ((body.cursors as unknown[]) ?? []).map(Number);
        const killed = ids.filter((id) => cursors.delete(id));
        return { cursorsKilled: killed.map((id) => Long.fromNumber(id)), cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
      }
      default: return fail(59, "CommandNotFound", `no such command: '${name}'`);
    }
  }

  const header = (length: number, responseTo: number, opCode: number) => {
    const h = Buffer.alloc(16);
    h.writeInt32LE(length, 0);
    h.writeInt32LE(Math.floor(Math.random() * 2 ** 31), 4);
    h.writeInt32LE(responseTo, 8);
    h.writeInt32LE(opCode, 12);
    return h;
  };
  const msgReply = (doc: Document, responseTo: number) => {
    const body = BSON.serialize(doc);
    return Buffer.concat([header(16 + 5 + body.length, responseTo, OP_MSG), Buffer.from([0, 0, 0, 0, 0]), body]);
  };
  const legacyReply = (doc: Document, responseTo: number) => {
    const body = BSON.serialize(doc);
    const fixed = Buffer.alloc(20);
    fixed.writeInt32LE(1, 16);
    return Buffer.concat([header(16 + 20 + body.length, responseTo, OP_REPLY), fixed, body]);
  };

  /** The command document of one message (OP_MSG sections folded into it), or null. */
  function parse(msg: Buffer): { body: Document; legacy: boolean } | null {
    const opCode = msg.readInt32LE(12);
    if (opCode === OP_MSG) {
      const flags = msg.readUInt32LE(16);
      const end = msg.length - (flags & 1 ? 4 : 0);
      let off = 20;
      let body: Document = {};
      const seqs: Record<string, Document[]> = {};
      while (off < end) {
        const kind = msg[off++];
        const size = msg.readInt32LE(off);
        if (kind === 0) {
          body = BSON.deserialize(msg.subarray(off, off + size));
          off += size;
        } else {
          const secEnd = off + size;
          off += 4;
          const z = msg.indexOf(0, off);
          const id = msg.subarray(off, z).toString("utf8");
          off = z + 1;
          const docs: Document[] = [];
          while (off < secEnd) {
            const n = msg.readInt32LE(off);
            docs.push(BSON.deserialize(msg.subarray(off, off + n)));
            off += n;
          }
          seqs[id] = docs;
        }
      }
      return { body: { ...body, ...seqs }, legacy: false };
    }
    if (opCode === OP_QUERY) {
      const z = msg.indexOf(0, 20);
      const collection = msg.subarray(20, z).toString("utf8");
      const off = z + 1 + 8;
      const size = msg.readInt32LE(off);
      let q = BSON.deserialize(msg.subarray(off, off + size));
      if (q.$query) q = q.$query as Document;
      return { body: { ...q, $db: collection.replace(/\.\$cmd$/, "") }, legacy: true };
    }
    return null;
  }

  const server = createServer((socket) => {
    sockets.add(socket);
    const connectionId = nextConn++;
    const session: Session = { authenticated: false, sasl: null, waits: new Set() };
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on("data", (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
        const len = buf.readInt32LE(0);
        const msg = buf.subarray(0, len);
        buf = buf.subarray(len);
        const requestId = msg.readInt32LE(4);
        const parsed = parse(msg);
        if (!parsed) continue;
        // One connection runs one command at a time, as mongod does.
        chain = chain.then(async () => {
          const reply = await command(session, parsed.body, connectionId).catch((e: unknown) => fail(1, "InternalError", String(e)));
          if (reply && !socket.destroyed) socket.write(parsed.legacy ? legacyReply(reply, requestId) : msgReply(reply, requestId));
        });
      }
    });
    const gone = () => {
      sockets.delete(socket);
      for (const w of [...session.waits]) w();
    };
    socket.on("close", gone);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    commands,
    running: () => running,
    openCursors: () => cursors.size,
    setCollection: (db, name, docs) => { ns(db).set(name, { docs }); },
    setView: (db, name, viewOn, pipeline) => { ns(db).set(name, { viewOn, pipeline }); },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
