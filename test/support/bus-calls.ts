/**
 * Finds every bus call the production code makes, by the TypeScript compiler's types (so a subject
 * chosen at run time from a union of literals is seen too), and compares them with the `callers`
 * of SUBJECTS and the routes of EVENT_ROUTES. test/deploy/bus-callers.test.ts runs it.
 */
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type { Caller } from "@dsb/contracts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Bus methods and what a call of each one needs granted. */
const METHODS = {
  request: "call", requestWithBytes: "call", requestJson: "call", requestJsonBytes: "call", requestFirst: "call",
  publish: "publish", subscribe: "subscribe",
} as const;
type Use = (typeof METHODS)[keyof typeof METHODS];

export interface BusCall { service: Caller; use: Use; subject: string; at: string }

/** The deployables' entry points: what they import is the production code. */
export function entryPoints(): string[] {
  const services = readdirSync(join(ROOT, "services")).map((s) => join(ROOT, "services", s, "src", "main.ts"));
  return [join(ROOT, "gateway/src/main.ts"), ...services, join(ROOT, "src/start-all.ts")];
}

/** The service a source file belongs to, by folder; null for shared code (libs, src). */
function serviceOf(file: string): Caller | null {
  const rel = relative(ROOT, file).split(sep);
  if (rel[0] === "gateway") return "gateway";
  if (rel[0] === "services" && rel[1]) return rel[1] as Caller;
  return null;
}

/** Literal subjects a call's first argument may hold, or null when its type is not a union of string literals. */
function literals(checker: ts.TypeChecker, arg: ts.Expression): string[] | null {
  const type = checker.getTypeAtLocation(arg);
  const parts = type.isUnion() ? type.types : [type];
  if (!parts.every((t) => t.isStringLiteral())) return null;
  return parts.map((t) => (t as ts.StringLiteralType).value);
}

/**
 * Every call of a bus method in the code reachable from `roots`. Throws on a call whose subject
 * the types do not pin down (a plain `string`), or one made outside a service's folder: the
 * check would otherwise pass without seeing it.
 */
export function findBusCalls(roots = entryPoints()): BusCall[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!config) throw new Error("tsconfig.json could not be read");
  const program = ts.createProgram({ rootNames: roots, options: { ...config.options, noEmit: true } });
  const checker = program.getTypeChecker();
  const calls: BusCall[] = [];
  const unreadable: string[] = [];
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || sf.fileName.includes("/node_modules/") || sf.fileName.includes("/libs/bus/")) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.arguments[0]) {
        const method = node.expression.name.text;
        const receiver = checker.getTypeAtLocation(node.expression.expression);
        if (method in METHODS && receiver.getSymbol()?.getName() === "Bus") {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
          const at = `${relative(ROOT, sf.fileName)}:${line + 1}`;
          const subjects = literals(checker, node.arguments[0]);
          const service = serviceOf(sf.fileName);
          if (!subjects || !service) unreadable.push(`${at} (${!service ? "outside a service folder" : "subject is not a literal type"})`);
          else for (const subject of subjects) calls.push({ service, use: METHODS[method as keyof typeof METHODS], subject, at });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  if (unreadable.length) throw new Error(`bus calls the check cannot attribute: ${unreadable.join(", ")}`);
  return calls;
}

/** What the contracts grant: callers of subjects, publisher and subscribers of events. */
export interface Grants {
  subjects: Record<string, { callers: readonly Caller[] }>;
  events: Record<string, { publisher: Caller; subscribers: readonly Caller[] }>;
}

/** Differences between the calls and the grants, both ways, as sentences; empty when they agree. */
export function compareWithGrants(calls: BusCall[], grants: Grants): string[] {
  const problems: string[] = [];
  const granted = (use: Use, subject: string): readonly Caller[] | undefined => {
    if (use === "call") return grants.subjects[subject]?.callers;
    const route = grants.events[subject];
    if (!route) return undefined;
    return use === "publish" ? [route.publisher] : route.subscribers;
  };
  const used = new Set<string>();
  for (const c of calls) {
    used.add(`${c.use} ${c.subject} ${c.service}`);
    const list = granted(c.use, c.subject);
    if (!list) problems.push(`${c.at}: ${c.subject} is not in the contracts`);
    else if (!list.includes(c.service)) problems.push(`${c.at}: ${c.service} may not ${c.use} ${c.subject} (its list: ${list.join(", ") || "nobody"})`);
  }
  const grantList: [Use, string, readonly Caller[]][] = [
    ...Object.entries(grants.subjects).map(([s, d]): [Use, string, readonly Caller[]] => ["call", s, d.callers]),
    ...Object.entries(grants.events).map(([e, r]): [Use, string, readonly Caller[]] => ["publish", e, [r.publisher]]),
    ...Object.entries(grants.events).map(([e, r]): [Use, string, readonly Caller[]] => ["subscribe", e, r.subscribers]),
  ];
  for (const [use, subject, services] of grantList) {
    for (const service of services) {
      if (!used.has(`${use} ${subject} ${service}`)) problems.push(`${service} may ${use} ${subject} but its code never does`);
    }
  }
  return problems;
}
