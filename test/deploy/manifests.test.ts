/**
 * Static checks of the deployment artefacts (no Docker engine or cluster runs here):
 * the k8s base renders with `kubectl kustomize` when kubectl is installed, and both the k8s
 * manifests and docker-compose.yml are checked for what would only fail at deploy time —
 * selectors, probe targets, entry files, env names, secret keys, NATS users.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse } from "yaml";
import { EnvSchema } from "@dsb/runtime";
import { skipped } from "@dsb/runtime/testing";
import { NATS_USERS, passwordVar } from "../../deploy/gen-nats-conf.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const k8sDir = join(root, "deploy/k8s");
const read = (p: string) => readFileSync(join(root, p), "utf8");

// Loose shapes: these are checks over arbitrary YAML, narrowed where used.
type Obj = Record<string, any>; // any: walking untyped YAML documents of many kinds

const APP_SERVICES = ["gateway", "catalog", "connector", "ingestion"] as const;
const ENV_NAMES = new Set(Object.keys(EnvSchema.shape));
/** Secrets a service may see: least privilege (only the catalog holds the key and the database). */
const SECRET_ENV: Record<string, string[]> = { gateway: ["JWT_SECRET"], catalog: ["DATABASE_URL", "ENCRYPTION_KEY"], connector: [], ingestion: [] };

/** The bundle `npm run start:<svc>` runs (package.json is the single source of entry points). */
function entryFile(svc: string): string {
  const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
  const m = /^node scripts\/build\.mjs && node (dist\/\S+\.js)$/.exec(scripts[`start:${svc}`] ?? "");
  if (!m) throw new Error(`package.json has no "start:${svc}": "node scripts/build.mjs && node dist/<svc>.js" script`);
  return m[1]!;
}

/** The source file scripts/build.mjs bundles into `dist/<name>.js`. */
function sourceOf(distFile: string): string {
  const name = /^dist\/(.+)\.js$/.exec(distFile)![1]!;
  const m = new RegExp(`"?${name}"?: "([^"]+)"`).exec(read("scripts/build.mjs"));
  if (!m) throw new Error(`scripts/build.mjs has no entry ${name}`);
  return m[1]!;
}

function baseResources(): Obj[] {
  const kustomization = parse(readFileSync(join(k8sDir, "kustomization.yaml"), "utf8")) as Obj;
  return (kustomization.resources as string[]).flatMap((f) =>
    parseAllDocuments(readFileSync(join(k8sDir, f), "utf8")).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
      return d.toJS() as Obj;
    }).filter(Boolean));
}

const byKind = (docs: Obj[], kind: string) => docs.filter((d) => d.kind === kind);
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("deploy/k8s (kustomize base)", () => {
  const docs = baseResources();
  const workloads = [...byKind(docs, "Deployment"), ...byKind(docs, "StatefulSet")];
  const deployment = (name: string) => byKind(docs, "Deployment").find((d) => d.metadata.name === name)!;
  const secretKeys = Object.keys((parse(readFileSync(join(k8sDir, "secret.example.yaml"), "utf8")) as Obj).stringData);

  it("renders with `kubectl kustomize deploy/k8s`", (ctx) => {
    let kubectl = true;
    try { execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" }); } catch { kubectl = false; }
    if (!kubectl) { skipped("kubectl kustomize", "kubectl is not installed; the structural checks below still run"); ctx.skip(); return; }
    const out = execFileSync("kubectl", ["kustomize", k8sDir], { encoding: "utf8" });
    const rendered = parseAllDocuments(out).map((d) => d.toJS() as Obj);
    const kinds = rendered.map((d) => `${d.kind}/${d.metadata.name}`);
    for (const svc of APP_SERVICES) expect(kinds).toContain(`Deployment/${svc}`);
    expect(kinds).toEqual(expect.arrayContaining(["Service/gateway", "StatefulSet/nats", "StatefulSet/postgres", "HorizontalPodAutoscaler/connector", "HorizontalPodAutoscaler/ingestion"]));
    // The generated nats.conf ConfigMap (hashed name) is the one the NATS pod mounts.
    const conf = rendered.find((d) => d.kind === "ConfigMap" && String(d.metadata.name).startsWith("nats-config-"))!;
    expect(conf.data["nats.conf"]).toBe(read("deploy/nats.conf"));
    const nats = rendered.find((d) => d.kind === "StatefulSet" && d.metadata.name === "nats")!;
    expect(nats.spec.template.spec.volumes[0].configMap.name).toBe(conf.metadata.name);
    for (const d of rendered) expect(d.metadata.labels?.["app.kubernetes.io/part-of"], `${d.kind}/${d.metadata.name}`).toBe("dsb");
  });

  it("has no namespace and a Deployment per service, with matching selectors", () => {
    for (const d of docs) expect(d.metadata.namespace, `${d.kind}/${d.metadata.name}`).toBeUndefined();
    for (const svc of APP_SERVICES) expect(deployment(svc), svc).toBeDefined();
    for (const w of workloads) expect(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), w.metadata.name).toBe(true);
    for (const s of byKind(docs, "Service")) {
      const target = workloads.find((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
      expect(target, `Service ${s.metadata.name} selects nothing`).toBeDefined();
      const ports = target!.spec.template.spec.containers.flatMap((c: Obj) => c.ports ?? []).map((p: Obj) => p.name);
      for (const p of s.spec.ports) expect(ports, `Service ${s.metadata.name}`).toContain(p.targetPort);
    }
    for (const p of byKind(docs, "PodDisruptionBudget"))
      expect(workloads.some((w) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels)), p.metadata.name).toBe(true);
  });

  it("runs each service's `npm run start:<svc>` entry file under tini, as non-root", () => {
    for (const svc of APP_SERVICES) {
      const spec = deployment(svc).spec.template.spec;
      const c = spec.containers[0];
      expect(c.command, `${svc} must keep the image's tini entrypoint`).toBeUndefined();
      expect(c.args).toEqual(["node", entryFile(svc)]);
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.terminationGracePeriodSeconds).toBe(30);
    }
  });

  it("runs bundles of entry files that exist in the repository", () => {
    for (const svc of APP_SERVICES) expect(existsSync(join(root, sourceOf(entryFile(svc)))), sourceOf(entryFile(svc))).toBe(true);
    expect(sourceOf("dist/healthcheck.js")).toBe("deploy/healthcheck.ts");
  });

  it("points the gateway's probes at /readyz and /healthz on its HTTP port, with a preStop delay", () => {
    const c = deployment("gateway").spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080 }]);
    expect(c.env.find((e: Obj) => e.name === "PORT").value).toBe("8080");
    expect(c.lifecycle.preStop.exec.command).toEqual(["sleep", "5"]);
    const routes = read("gateway/src/routes/system.ts");
    expect(routes).toContain('"/readyz"');
    expect(routes).toContain('"/healthz"');
  });

  it("probes the NATS services with deploy/healthcheck.ts for their own service name", () => {
    expect(existsSync(join(root, "deploy/healthcheck.ts"))).toBe(true);
    for (const svc of ["catalog", "connector", "ingestion"]) {
      const c = deployment(svc).spec.template.spec.containers[0];
      for (const [probe, mode] of [["readinessProbe", "ready"], ["livenessProbe", "live"], ["startupProbe", "live"]] as const)
        expect(c[probe].exec.command, `${svc} ${probe}`).toEqual(["node", "dist/healthcheck.js", mode, svc]);
      expect(c.env.find((e: Obj) => e.name === "REPLICA_ID").valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    }
  });

  it("has Prometheus scrape every service's /metrics: the gateway on its HTTP port, the bus services on METRICS_PORT", () => {
    for (const svc of APP_SERVICES) {
      const tpl = deployment(svc).spec.template;
      const a = tpl.metadata.annotations ?? {};
      expect(a["prometheus.io/scrape"], svc).toBe("true");
      expect(a["prometheus.io/path"], svc).toBe("/metrics");
      const c = tpl.spec.containers[0];
      const ports = (c.ports ?? []).map((p: Obj) => p.containerPort);
      expect(ports, svc).toContain(Number(a["prometheus.io/port"]));
      const metricsPort = c.env.find((e: Obj) => e.name === "METRICS_PORT")?.value;
      if (svc === "gateway") expect(metricsPort).toBeUndefined();
      else expect(metricsPort, svc).toBe(a["prometheus.io/port"]);
    }
  });

  it("sets requests and limits on every container", () => {
    for (const w of workloads) for (const c of w.spec.template.spec.containers) {
      expect(c.resources?.requests?.cpu, `${w.metadata.name}`).toBeDefined();
      expect(c.resources?.requests?.memory, `${w.metadata.name}`).toBeDefined();
      expect(c.resources?.limits?.memory, `${w.metadata.name}`).toBeDefined();
    }
  });

  it("autoscales connector and ingestion, whose Deployments leave replicas to the HPA", () => {
    const hpas = byKind(docs, "HorizontalPodAutoscaler");
    expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).toEqual(["connector", "ingestion"]);
    for (const h of hpas) {
      expect(h.apiVersion).toBe("autoscaling/v2");
      expect(deployment(h.spec.scaleTargetRef.name).spec.replicas).toBeUndefined();
      expect(h.spec.minReplicas).toBeGreaterThanOrEqual(2);
    }
  });

  it("reads only known env variables, and secrets each service needs and no other", () => {
    const config = byKind(docs, "ConfigMap").find((c) => c.metadata.name === "dsb-config")!;
    for (const k of Object.keys(config.data)) expect(ENV_NAMES, `dsb-config ${k}`).toContain(k);
    expect(config.data.BUS_NAMESPACE).toBeUndefined();
    for (const svc of APP_SERVICES) {
      const c = deployment(svc).spec.template.spec.containers[0];
      expect(c.envFrom).toEqual([{ configMapRef: { name: "dsb-config" } }]);
      const env: Obj[] = c.env;
      for (const e of env) expect(ENV_NAMES, `${svc} ${e.name}`).toContain(e.name);
      expect(env.find((e) => e.name === "NATS_USER")!.value).toBe(svc);
      // nats.conf permissions are for un-namespaced subjects.
      expect(env.some((e) => e.name === "BUS_NAMESPACE"), svc).toBe(false);
      expect(env.find((e) => e.name === "NATS_PASS")!.valueFrom.secretKeyRef.key).toBe(passwordVar(svc));
      const secretEnv = env.filter((e) => e.valueFrom?.secretKeyRef && e.name !== "NATS_PASS").map((e) => e.name).sort();
      expect(secretEnv, svc).toEqual(SECRET_ENV[svc]);
    }
    const refs = workloads.flatMap((w) => w.spec.template.spec.containers.flatMap((c: Obj) => (c.env ?? []).map((e: Obj) => e.valueFrom?.secretKeyRef).filter(Boolean)));
    for (const r of refs) {
      expect(r.name).toBe("dsb-secrets");
      expect(secretKeys, `secret.example.yaml lacks ${r.key}`).toContain(r.key);
    }
  });

  it("gives the NATS StatefulSet every password nats.conf references and JetStream storage at /data", () => {
    const nats = workloads.find((w) => w.metadata.name === "nats")!;
    const c = nats.spec.template.spec.containers[0];
    expect(c.env.map((e: Obj) => e.name).sort()).toEqual(NATS_USERS.map(passwordVar).sort());
    expect(c.args).toEqual(["-c", "/etc/nats/nats.conf"]);
    expect(c.volumeMounts.find((m: Obj) => m.name === "data").mountPath).toBe("/data");
    expect(read("deploy/nats.conf")).toContain('store_dir: "/data"');
    expect(nats.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(c.readinessProbe.httpGet.port).toBe("monitor");
    expect(read("deploy/nats.conf")).toContain("http_port: 8222");
  });
});

describe("docker-compose.yml", () => {
  const compose = parse(read("docker-compose.yml"), { merge: true }) as Obj;
  const services = compose.services as Record<string, Obj>;

  it("is valid for Compose (`docker-compose config`, when a Compose CLI is installed)", (ctx) => {
    const clis: [string, string[]][] = [["docker-compose", []], ["docker", ["compose"]]];
    const cli = clis.find(([bin, pre]) => {
      try { execFileSync(bin, [...pre, "version"], { stdio: "ignore" }); return true; } catch { return false; }
    });
    if (!cli) { skipped("docker-compose config", "no Compose CLI installed; the structural checks below still run"); ctx.skip(); return; }
    const out = execFileSync(cli[0], [...cli[1], "-f", join(root, "docker-compose.yml"), "config"], { encoding: "utf8" });
    const resolved = parse(out) as Obj;
    expect(Object.keys(resolved.services).sort()).toEqual(["catalog", "connector", "gateway", "ingestion", "nats", "postgres"]);
    expect(resolved.services.connector.environment.NATS_USER).toBe("connector");
  });

  it("has nats, postgres and the four services, scalable (no container_name, only the gateway publishes a port)", () => {
    expect(Object.keys(services).sort()).toEqual(["catalog", "connector", "gateway", "ingestion", "nats", "postgres"]);
    for (const [name, s] of Object.entries(services)) {
      expect(s.container_name, name).toBeUndefined();
      if (name !== "gateway") expect(s.ports, name).toBeUndefined();
    }
    expect(services.gateway!.ports).toEqual(["${GATEWAY_PORT:-8080}:8080"]);
  });

  it("runs NATS with JetStream from deploy/nats.conf and hands it every password", () => {
    const nats = services.nats!;
    expect(nats.command).toEqual(["-c", "/etc/nats/nats.conf"]);
    expect(nats.volumes).toContain("./deploy/nats.conf:/etc/nats/nats.conf:ro");
    expect(nats.volumes).toContain("nats-data:/data");
    expect(Object.keys(nats.environment).sort()).toEqual(NATS_USERS.map(passwordVar).sort());
  });

  it("runs each service's entry file from one image, as its own NATS user, with known env only", () => {
    const natsEnv = services.nats!.environment as Record<string, string>;
    for (const svc of APP_SERVICES) {
      const s = services[svc]!;
      expect(s.image).toBe("dsb-app:local");
      expect(s.command).toEqual(["node", entryFile(svc)]);
      expect(s.stop_grace_period).toBe("30s");
      const env = s.environment as Record<string, string>;
      for (const k of Object.keys(env)) expect(ENV_NAMES, `${svc} ${k}`).toContain(k);
      expect(env.NATS_URL).toBe("nats://nats:4222");
      expect(env.NATS_USER).toBe(svc);
      expect(env.BUS_NAMESPACE, svc).toBeUndefined();
      // Same variable and same development default on both sides, so `docker compose up` just works.
      expect(env.NATS_PASS).toBe(natsEnv[passwordVar(svc)]);
      for (const secret of ["DATABASE_URL", "ENCRYPTION_KEY", "JWT_SECRET"])
        expect(secret in env, `${svc} ${secret}`).toBe(SECRET_ENV[svc]!.includes(secret));
    }
    expect(services.catalog!.environment.DATABASE_URL).toContain("@postgres:5432/dsb");
  });

  it("serves the bus services' /metrics on METRICS_PORT to the compose network", () => {
    for (const svc of ["catalog", "connector", "ingestion"]) {
      const port = (services[svc]!.environment as Record<string, string>).METRICS_PORT;
      expect(port, svc).toBe("9464");
      expect(services[svc]!.expose, svc).toContain(port);
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const ignored = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

  it("builds from node:20-slim with npm ci, runs as the node user under tini", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(dockerfile).toContain("RUN node scripts/build.mjs");
    expect(dockerfile).toContain("COPY --from=build --chown=root:root /src/dist ./dist");
    expect(dockerfile).toContain('CMD ["node", "dist/start-all.js"]');
  });

  it("runs node on jemalloc (memory freed after load goes back to the system), from an architecture-independent path", () => {
    expect(dockerfile).toMatch(/apt-get install [^\n]*libjemalloc2/);
    expect(dockerfile).toContain('ln -s "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/local/lib/libjemalloc.so.2');
    expect(dockerfile).toMatch(/^\s+LD_PRELOAD=\/usr\/local\/lib\/libjemalloc\.so\.2 \\$/m);
    expect(dockerfile).toMatch(/^\s+MALLOC_CONF=background_thread:true,narenas:2$/m);
  });

  it("keeps what the services and probes need in the build context", () => {
    for (const needed of ["deploy", "libs", "services", "gateway", "src", "scripts", "package.json", "package-lock.json", "tsconfig.base.json"])
      expect(ignored, needed).not.toContain(needed);
    expect(ignored).toContain("**/node_modules");
    expect(ignored).toContain(".env");
  });
});
