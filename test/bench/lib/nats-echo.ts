/** A trivial NATS responder in its own process (the bus floor): `nats-echo.ts <url> <subject>`. */
import { connect } from "@nats-io/transport-node";

const [url, subject] = process.argv.slice(2);
const nc = await connect({ servers: url! });
const sub = nc.subscribe(subject!);
console.log("ready");
for await (const m of sub) m.respond(m.data);
