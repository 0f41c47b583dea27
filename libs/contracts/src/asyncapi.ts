import { z } from "zod";
import { BusErrorSchema, ERROR_STATUS } from "./errors.ts";
import { EVENT_ROUTES, EVENTS, SERVICES, SUBJECTS, type Caller } from "./subjects.ts";

/**
 * The bus as an AsyncAPI 3 document, generated from SUBJECTS, EVENTS and EVENT_ROUTES (the same
 * zod schemas both sides validate with, as JSON Schema draft-07). docs/bus.md explains how to read it.
 */

type Json = Record<string, unknown>;
const DRAFT_07 = "application/schema+json;version=draft-07";

/** A zod schema as a draft-07 payload; `input` for what a receiver accepts (defaults may be left out), `output` for what is sent. */
function payload(schema: z.ZodType, io: "input" | "output"): Json {
  const json = z.toJSONSchema(schema, { target: "draft-7", io, unrepresentable: "any" }) as Json;
  delete json.$schema;
  return { schemaFormat: DRAFT_07, schema: json };
}

/** Channel and component ids: the subject with `.` → `_` and the per-replica `*` left out. */
const idOf = (subject: string) => subject.replace(/\.\*$/, "").replace(/\./g, "_");
/** A per-replica subject's address: the replica id is a channel parameter. */
const addressOf = (subject: string) => subject.replace(/\*$/, "{replica}");
const ownerOf = (subject: string) => Object.keys(SERVICES).find((s) => subject.startsWith(`${s}.`)) ?? subject.split(".")[0]!;

const REQUEST_HEADERS: Json = {
  type: "object",
  properties: {
    "x-request-id": { type: "string", description: "Ties the logs of every service a request crossed." },
    "Dsb-Heartbeat-Ms": { type: "string", description: "NATS only: the interval at which a handler still running sends heartbeats." },
    "Dsb-Heartbeat-To": { type: "string", description: "NATS only: where the heartbeats go (`<caller inbox>.hb.<id>.<token>`)." },
  },
};

const ERROR_HEADERS: Json = {
  type: "object",
  properties: {
    "Nats-Service-Error-Code": { type: "string", description: "NATS only: the HTTP status of the error code (as @nats-io/services sets it)." },
    "Nats-Service-Error": { type: "string", enum: Object.keys(ERROR_STATUS), description: "NATS only: the stable error code." },
  },
};

/** Builds the document; `version` is the deployment's (the gateway passes its own). */
export function buildAsyncApi(version = "1.0.0"): Json {
  const channels: Json = {};
  const operations: Json = {};
  const messages: Json = {
    error: {
      name: "error", title: "Error reply", contentType: "application/json", headers: ERROR_HEADERS,
      summary: "Any request may be answered with an error: a stable code, a sentence, and whether a retry may succeed.",
      payload: payload(z.object({ ok: z.literal(false), error: BusErrorSchema }), "output"),
    },
  };

  for (const [subject, def] of Object.entries(SUBJECTS) as [string, (typeof SUBJECTS)[keyof typeof SUBJECTS]][]) {
    const id = idOf(subject);
    const perReplica = subject.endsWith(".*");
    const fanout = "fanout" in def;
    messages[`${id}_request`] = { name: `${id}_request`, contentType: "application/json", headers: REQUEST_HEADERS, payload: payload(def.request, "input") };
    messages[`${id}_reply`] = {
      name: `${id}_reply`, contentType: "application/json",
      payload: payload(z.object({ ok: z.literal(true), data: def.reply }), "output"),
    };
    channels[id] = {
      address: addressOf(subject),
      description: def.description,
      messages: { request: { $ref: `#/components/messages/${id}_request` } },
      ...(perReplica ? { parameters: { replica: { description: "The replica holding the cursor (the `subject` of the cursor a page returned)." } } } : {}),
    };
    channels[`${id}_reply`] = {
      address: null,
      description: `Reply to ${subject}: the requester's inbox (\`_INBOX_<user>.…\` with deploy/nats.conf).`,
      messages: { reply: { $ref: `#/components/messages/${id}_reply` }, error: { $ref: "#/components/messages/error" } },
    };
    const callers: readonly Caller[] = def.callers;
    operations[id] = {
      action: "receive",
      channel: { $ref: `#/channels/${id}` },
      summary: def.description,
      description: [
        `Served by ${ownerOf(subject)}`,
        perReplica ? "on the one replica named in the subject" : fanout ? "on every replica (no queue group; the replica that has it answers, the others stay silent)" : `in the queue group \`${ownerOf(subject)}\` (one replica answers)`,
        `. Called by: ${callers.join(", ")}.`,
      ].join(" ").replace(" .", "."),
      messages: [{ $ref: `#/channels/${id}/messages/request` }],
      reply: {
        channel: { $ref: `#/channels/${id}_reply` },
        messages: [{ $ref: `#/channels/${id}_reply/messages/reply` }, { $ref: `#/channels/${id}_reply/messages/error` }],
      },
      "x-callers": callers,
      ...(fanout ? { "x-fanout": true } : {}),
    };
  }

  for (const [event, schema] of Object.entries(EVENTS) as [keyof typeof EVENTS, z.ZodType][]) {
    const id = idOf(event);
    const route = EVENT_ROUTES[event];
    messages[id] = { name: id, contentType: "application/json", payload: payload(schema, "output") };
    channels[id] = { address: event, description: `Event published by ${route.publisher}; every replica of a subscriber hears it.`, messages: { event: { $ref: `#/components/messages/${id}` } } };
    operations[id] = {
      action: "send",
      channel: { $ref: `#/channels/${id}` },
      summary: `${route.publisher} publishes ${event}`,
      description: `Published by ${route.publisher}; heard by ${route.subscribers.length ? route.subscribers.join(", ") : "no service today"}.`,
      messages: [{ $ref: `#/channels/${id}/messages/event` }],
      "x-publisher": route.publisher,
      "x-subscribers": route.subscribers,
    };
  }

  return {
    asyncapi: "3.1.0",
    info: {
      title: "Data sources bus",
      version,
      description: [
        "Request-reply subjects and events between the gateway, catalog, connector and ingestion services,",
        "generated from libs/contracts/src/subjects.ts. Both sides validate every message against these schemas.",
        "With BUS_NAMESPACE set, every address is prefixed with `<namespace>.`.",
        "A message over NATS max_payload is gzipped (it starts with 0x1f 0x8b); a reply with a binary attachment",
        "starts with 0x00, then the JSON's length (u32 big-endian), the JSON, the bytes (docs/decisions.md §3, §9).",
        "`x-callers` lists the services allowed to call a subject (deploy/nats.conf grants exactly these).",
      ].join(" "),
    },
    defaultContentType: "application/json",
    servers: {
      nats: { host: "nats:4222", protocol: "nats", description: "NATS_URL in distributed mode; embedded mode carries the same messages in process." },
    },
    channels,
    operations,
    components: { messages },
  };
}
