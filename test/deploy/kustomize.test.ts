/**
 * The Kubernetes manifests under deploy/: rendered with `kubectl kustomize` (offline, no
 * cluster), every object validated against the Kubernetes schema with kubernetes-models,
 * then the properties the deployment relies on asserted one by one. And the Grafana
 * dashboard: every metric it queries must exist on a running Tessera's /metrics.
 *
 * kubectl must be installed (KUBECTL overrides the binary); without it these tests fail
 * with a message saying so, they never skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ConfigMap,
  Namespace,
  PersistentVolumeClaim,
  Service,
  ServiceAccount,
  type IConfigMap,
  type IContainer,
  type IPersistentVolumeClaim,
  type IPodSpec,
  type IProbe,
  type IService,
  type IServiceAccount,
} from 'kubernetes-models/v1';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const IMAGE = 'ghcr.io/tessera-dev/tessera';
const SECRET = 'tessera-secrets';

/**
 * Peak RSS figures the memory limits are sized from (deploy/README.md, "Resources"):
 * serve measured with `node dist/main.js serve` under token + sign-in load; worker from
 * the README bench (bulk role change for 100,000 users). Limits must keep 25 % above them.
 */
const SERVE_PEAK_RSS = 321e6;
const WORKER_PEAK_RSS = 296e6;
const HEADROOM = 1.25;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

type Model = new (data: unknown) => { validate(): void };
/** The kinds deploy/ may contain, with the kubernetes-models class that validates each. */
const MODELS: Record<string, Model> = {
  'apps/v1 Deployment': Deployment as unknown as Model,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler as unknown as Model,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget as unknown as Model,
  'networking.k8s.io/v1 Ingress': Ingress as unknown as Model,
  'v1 ConfigMap': ConfigMap as unknown as Model,
  'v1 Namespace': Namespace as unknown as Model,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim as unknown as Model,
  'v1 Service': Service as unknown as Model,
  'v1 ServiceAccount': ServiceAccount as unknown as Model,
};

/** `kubectl kustomize <dir>`, parsed into objects. Fails loudly when kubectl is missing. */
function kustomize(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 32 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `kubectl not found ("${KUBECTL}" is not on PATH). These tests render deploy/ with \`kubectl kustomize\`, which needs no cluster: ` +
          'install kubectl (https://kubernetes.io/docs/tasks/tools/) or set KUBECTL to its path.',
      );
    }
    throw new Error(`kubectl kustomize ${relative(ROOT, dir) || dir} failed:\n${e.stderr ?? e.message}`);
  }
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length) throw new Error(`kubectl kustomize printed invalid YAML: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) objects.push(obj);
  }
  return objects;
}

/** Schema validation of every object; a kind the test doesn't know is an error too. */
function validateAll(objects: K8sObject[]): void {
  for (const obj of objects) {
    const model = MODELS[`${obj.apiVersion} ${obj.kind}`];
    if (!model) throw new Error(`no kubernetes-models class for ${obj.apiVersion} ${obj.kind} (${obj.metadata.name}); add it to MODELS`);
    try {
      new model(obj).validate();
    } catch (err) {
      throw new Error(`${obj.kind}/${obj.metadata.name} is not valid: ${(err as Error).message}`);
    }
  }
}

function find<T>(objects: K8sObject[], kind: string, name: string): T {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`${kind}/${name} is not rendered (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return obj as unknown as T;
}

const all = <T>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as unknown as T[];

/** True when every label of `selector` is on `labels` (a matchLabels / Service selector match). */
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Boolean(selector && Object.keys(selector).length && Object.entries(selector).every(([k, v]) => labels?.[k] === v));

const podSpec = (d: IDeployment): IPodSpec => d.spec!.template.spec!;
const podLabels = (d: IDeployment) => d.spec!.template.metadata!.labels;
const containersOf = (d: IDeployment): IContainer[] => [...(podSpec(d).initContainers ?? []), ...podSpec(d).containers];

/** Kubernetes resource quantities ("500m", "2", "512Mi", "1G") as numbers. */
function quantity(q: string | number | undefined): number {
  if (q === undefined) return NaN;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`unparsable quantity ${q}`);
  const factor: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] ? factor[m[2]]! : 1);
}

/**
 * Whether `name` is a variable of the zod schema in src/config/index.ts, decided by the
 * schema itself through loadConfig: zod strips keys it doesn't know, so a known key is
 * either kept in the result or named in the ConfigError; an unknown one is neither.
 */
function isConfigKey(name: string): boolean {
  try {
    return Object.hasOwn(loadConfig({ [name]: 'x' }), name);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.includes(`  ${name}:`);
    throw err;
  }
}

/** Node.js runtime variables allowed next to Tessera's own, with the only value each may have. */
const NODE_RUNTIME_ENV: Record<string, { value: string; on: string }> = {
  // What `npm run worker` passes to node; the worker's memory limit is sized with it.
  NODE_OPTIONS: { value: '--max-semi-space-size=8', on: 'tessera-worker' },
};

describe('deploy/ (kubectl kustomize deploy)', () => {
  let objects: K8sObject[];
  let serve: IDeployment;
  let worker: IDeployment;
  let config: IConfigMap;
  let failure: unknown;

  /**
   * Renders once; called first in every test (not in beforeAll) so that a missing kubectl
   * or a broken kustomization fails each test with its message instead of skipping them.
   */
  function load(): void {
    if (failure) throw failure;
    if (objects) return;
    try {
      objects = kustomize(DEPLOY);
      serve = find<IDeployment>(objects, 'Deployment', 'tessera-serve');
      worker = find<IDeployment>(objects, 'Deployment', 'tessera-worker');
      config = all<IConfigMap>(objects, 'ConfigMap').find((c) => c.metadata!.name!.startsWith('tessera-config'))!;
      if (!config) throw new Error('ConfigMap tessera-config-<hash> is not rendered');
    } catch (err) {
      failure = err;
      throw err;
    }
  }

  it('renders only kinds the test knows, and every object is valid against the Kubernetes schema', () => {
    load();
    validateAll(objects);
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Service', 'ServiceAccount'].sort(),
    );
  });

  it('sets no namespace, so `-n` or an overlay decides it', () => {
    load();
    for (const o of objects) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBeUndefined();
  });

  it('each Deployment selects its own pod template, and no other Deployment\'s pods', () => {
    load();
    for (const d of [serve, worker]) expect(selects(d.spec!.selector.matchLabels, podLabels(d)), d.metadata!.name).toBe(true);
    expect(selects(serve.spec!.selector.matchLabels, podLabels(worker))).toBe(false);
    expect(selects(worker.spec!.selector.matchLabels, podLabels(serve))).toBe(false);
  });

  it('runs the tessera image in serve and worker mode, its tag set by a kustomize images entry', () => {
    load();
    const kustomization = parse(readFileSync(join(DEPLOY, 'base/kustomization.yaml'), 'utf8')) as { images?: { name: string; newTag?: string }[] };
    const entry = kustomization.images?.find((i) => i.name === IMAGE);
    expect(entry?.newTag).toBeTruthy();
    for (const [d, mode] of [[serve, 'serve'], [worker, 'worker']] as const) {
      const [c, ...others] = containersOf(d);
      expect(others).toEqual([]);
      expect(c!.image).toBe(`${IMAGE}:${entry!.newTag}`);
      // The image's entrypoint is node dist/main.js; the mode is the only argument.
      expect(c!.command).toBeUndefined();
      expect(c!.args).toEqual([mode]);
    }
  });

  it('does not create the Secret, and takes DATABASE_URL and REDIS_URL from tessera-secrets', () => {
    load();
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const d of [serve, worker]) {
      const c = containersOf(d)[0]!;
      for (const name of ['DATABASE_URL', 'REDIS_URL']) {
        const ref = c.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
        expect(ref, `${d.metadata!.name} ${name}`).toMatchObject({ name: SECRET, key: name });
        expect(ref!.optional, `${name} is required`).not.toBe(true);
      }
      // Whole-Secret imports would bring in names this test can't check.
      expect(c.envFrom?.filter((e) => e.secretRef) ?? []).toEqual([]);
    }
  });

  it('every environment variable and ConfigMap key is a Tessera configuration variable, and the values parse', () => {
    load();
    // The probe itself must tell the two apart, or the assertions below prove nothing.
    expect(isConfigKey('PORT')).toBe(true);
    expect(isConfigKey('TESSERA_BOOTSTRAP_CLIENT_SECRET')).toBe(true);
    expect(isConfigKey('TESSERA_NOT_A_SETTING')).toBe(false);

    const data = config.data ?? {};
    expect(Object.keys(data).length).toBeGreaterThan(0);
    for (const key of Object.keys(data)) expect(isConfigKey(key), `ConfigMap key ${key}`).toBe(true);

    for (const d of [serve, worker]) {
      const c = containersOf(d)[0]!;
      for (const from of c.envFrom ?? []) expect(from.configMapRef?.name, 'envFrom may only load the config ConfigMap').toBe(config.metadata!.name);
      const inline: Record<string, string> = {};
      for (const e of c.env ?? []) {
        const runtime = NODE_RUNTIME_ENV[e.name];
        if (runtime) {
          expect(d.metadata!.name, `${e.name} only on ${runtime.on}`).toBe(runtime.on);
          expect(e.value).toBe(runtime.value);
          continue;
        }
        expect(isConfigKey(e.name), `${d.metadata!.name} env ${e.name}`).toBe(true);
        if (e.value !== undefined) inline[e.name] = e.value;
      }
      // What the process will parse at boot, with stand-ins for the Secret's values.
      const parsed = loadConfig({ ...data, ...inline, DATABASE_URL: 'postgres://tessera@postgres:5432/tessera', REDIS_URL: 'redis://redis:6379' });
      expect(parsed.NODE_ENV).toBe('production');
      expect(parsed.TESSERA_EXPORT_DIR).toMatch(/^\//);
    }
    // Every serve pod and worker runs the same configuration.
    expect(containersOf(serve)[0]!.envFrom).toEqual(containersOf(worker)[0]!.envFrom);
  });

  it('Service: port 80 to the serve container port, a named metrics port, selecting serve pods only', () => {
    load();
    const services = all<IService>(objects, 'Service');
    expect(services).toHaveLength(1);
    const svc = services[0]!;
    expect(selects(svc.spec!.selector, podLabels(serve))).toBe(true);
    // Workers serve nothing over HTTP: no Service may route to them.
    expect(selects(svc.spec!.selector, podLabels(worker))).toBe(false);
    const http = containersOf(serve)[0]!.ports!.find((p) => p.name === 'http')!;
    const targets = (p: { targetPort?: string | number }) => p.targetPort === 'http' || p.targetPort === http.containerPort;
    const web = svc.spec!.ports!.find((p) => p.port === 80);
    expect(web && targets(web)).toBe(true);
    // /metrics has a private listener; the Service names it for a ServiceMonitor, and port 80 can't serve it.
    const metricsPort = containersOf(serve)[0]!.ports!.find((p) => p.name === 'metrics')!;
    expect(String(metricsPort.containerPort)).toBe(config.data!.TESSERA_METRICS_PORT);
    const metrics = svc.spec!.ports!.find((p) => p.name === 'metrics');
    expect(metrics?.targetPort === 'metrics' || metrics?.targetPort === metricsPort.containerPort).toBe(true);
    expect(targets(metrics!)).toBe(false);
  });

  it('probes: startup and liveness on /healthz, readiness on /readyz, on the port Tessera listens on', () => {
    load();
    const c = containersOf(serve)[0]!;
    const http = c.ports!.find((p) => p.name === 'http')!;
    expect(String(http.containerPort)).toBe(config.data!.PORT);
    const onPort = (probe: IProbe | undefined, path: string) => {
      expect(probe?.httpGet?.path).toBe(path);
      const port = probe!.httpGet!.port;
      expect(port === http.name || port === http.containerPort, `probe port ${port}`).toBe(true);
    };
    onPort(c.startupProbe, '/healthz');
    onPort(c.livenessProbe, '/healthz');
    onPort(c.readinessProbe, '/readyz');
    // Boot (migrations under an advisory lock) gets at least a minute before liveness applies.
    const startup = c.startupProbe!;
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(60);
    // Liveness tolerates a few slow answers; readiness reacts faster than liveness.
    expect(c.livenessProbe!.failureThreshold ?? 3).toBeGreaterThanOrEqual(3);
    expect(c.readinessProbe!.periodSeconds ?? 10).toBeLessThanOrEqual(c.livenessProbe!.periodSeconds ?? 10);
    // /readyz waits for its Postgres and Redis probes (1.5 s timeout each).
    expect(c.readinessProbe!.timeoutSeconds ?? 1).toBeGreaterThanOrEqual(2);
  });

  it('serve: preStop sleeps (no shell in the image) before SIGTERM, inside a grace period that leaves time to drain', () => {
    load();
    const c = containersOf(serve)[0]!;
    expect(c.lifecycle?.preStop?.exec, 'the distroless image has no shell').toBeUndefined();
    const sleep = c.lifecycle?.preStop?.sleep?.seconds;
    expect(sleep).toBeGreaterThanOrEqual(5);
    const grace = podSpec(serve).terminationGracePeriodSeconds!;
    expect(grace - sleep!, 'seconds left to drain after the preStop sleep').toBeGreaterThanOrEqual(20);
  });

  it('worker: a longer termination grace period than serve, for active jobs to finish', () => {
    load();
    const serveGrace = podSpec(serve).terminationGracePeriodSeconds!;
    const workerGrace = podSpec(worker).terminationGracePeriodSeconds!;
    expect(workerGrace).toBeGreaterThan(serveGrace);
    // README bench: a 100,000-user bulk change takes ~13 s and a 1M-event export ~11 s on 2 vCPU.
    expect(workerGrace).toBeGreaterThanOrEqual(120);
  });

  it('serve: rolling updates never go below capacity, and the HPA keeps at least two replicas', () => {
    load();
    expect(serve.spec!.strategy?.type).toBe('RollingUpdate');
    expect(serve.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    expect(serve.spec!.strategy?.rollingUpdate?.maxSurge).not.toBe(0);
    // replicas is left to the HPA (a fixed value would fight it on every apply); if present it must be >= 2.
    if (serve.spec!.replicas !== undefined) expect(serve.spec!.replicas).toBeGreaterThanOrEqual(2);
    const hpa = find<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler', 'tessera-serve');
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec!.maxReplicas).toBeGreaterThan(hpa.spec!.minReplicas!);
  });

  it('HPA (autoscaling/v2) scales the serve Deployment on CPU', () => {
    load();
    const hpas = all<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    expect(hpas).toHaveLength(1);
    const hpa = hpas[0]!;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: serve.metadata!.name });
    const cpu = hpa.spec!.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
    expect(cpu?.resource?.target.type).toBe('Utilization');
    expect(cpu?.resource?.target.averageUtilization).toBeGreaterThan(0);
    // Utilization is relative to the request, so serve must have one.
    expect(containersOf(serve)[0]!.resources?.requests?.cpu).toBeDefined();
  });

  it('PodDisruptionBudgets (policy/v1) each select exactly one Deployment\'s pods and allow one eviction', () => {
    load();
    const pdbs = all<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
    for (const pdb of pdbs) expect(pdb.apiVersion).toBe('policy/v1');
    const forServe = pdbs.filter((p) => selects(p.spec!.selector?.matchLabels, podLabels(serve)));
    expect(forServe).toHaveLength(1);
    expect(selects(forServe[0]!.spec!.selector?.matchLabels, podLabels(worker))).toBe(false);
    const forWorker = pdbs.filter((p) => selects(p.spec!.selector?.matchLabels, podLabels(worker)));
    expect(forWorker).toHaveLength(1);
    expect(selects(forWorker[0]!.spec!.selector?.matchLabels, podLabels(serve))).toBe(false);
    // With the minimum of two replicas, a drain can still evict one pod.
    for (const pdb of pdbs) {
      const { maxUnavailable, minAvailable } = pdb.spec!;
      if (maxUnavailable !== undefined) expect(quantity(maxUnavailable)).toBeGreaterThanOrEqual(1);
      else expect(quantity(minAvailable)).toBeLessThan(2);
    }
  });

  it('serve pods spread across nodes', () => {
    load();
    const spread = podSpec(serve).topologySpreadConstraints ?? [];
    const byNode = spread.find((s) => s.topologyKey === 'kubernetes.io/hostname');
    const anti = podSpec(serve).affinity?.podAntiAffinity;
    const antiByNode = [...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []), ...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm)].find(
      (t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector?.matchLabels, podLabels(serve)),
    );
    expect(Boolean((byNode && selects(byNode.labelSelector?.matchLabels, podLabels(serve))) || antiByNode)).toBe(true);
  });

  it('Prometheus scrape annotations on serve pods point at /metrics on the private metrics port; workers have none', () => {
    load();
    const annotations = serve.spec!.template.metadata!.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(annotations['prometheus.io/port']).toBe(String(containersOf(serve)[0]!.ports!.find((p) => p.name === 'metrics')!.containerPort));
    // A worker serves no HTTP; a scrape target there would only ever be down.
    expect(worker.spec!.template.metadata!.annotations?.['prometheus.io/scrape']).toBeUndefined();
    expect(containersOf(worker)[0]!.ports ?? []).toEqual([]);
  });

  it('pods run as non-root (65532) with a read-only root filesystem, no capabilities, no privilege escalation and RuntimeDefault seccomp', () => {
    load();
    for (const d of [serve, worker]) {
      const pod = podSpec(d).securityContext ?? {};
      for (const c of containersOf(d)) {
        const sc = c.securityContext ?? {};
        const where = `${d.metadata!.name}/${c.name}`;
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, where).toBe(true);
        expect(sc.runAsUser ?? pod.runAsUser, where).toBe(65532);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.privileged ?? false, where).toBe(false);
        expect(sc.capabilities?.drop, where).toContain('ALL');
        expect(sc.capabilities?.add ?? [], where).toEqual([]);
        expect((sc.seccompProfile ?? pod.seccompProfile)?.type, where).toBe('RuntimeDefault');
      }
    }
  });

  it('writable paths are volumes: /tmp an emptyDir, TESSERA_EXPORT_DIR the same ReadWriteMany claim at the same path everywhere', () => {
    load();
    const exportDir = config.data!.TESSERA_EXPORT_DIR!;
    const claims = new Set<string>();
    for (const d of [serve, worker]) {
      const volumes = new Map((podSpec(d).volumes ?? []).map((v) => [v.name, v]));
      const mounts = containersOf(d)[0]!.volumeMounts ?? [];
      const tmp = mounts.find((m) => m.mountPath === '/tmp');
      expect(tmp && volumes.get(tmp.name)?.emptyDir, `${d.metadata!.name} /tmp`).toBeDefined();
      const exports = mounts.find((m) => m.mountPath === exportDir);
      const claim = exports && volumes.get(exports.name)?.persistentVolumeClaim?.claimName;
      expect(claim, `${d.metadata!.name} ${exportDir}`).toBeTruthy();
      claims.add(claim!);
      if (d === worker) expect(exports!.readOnly ?? false, 'workers write exports').toBe(false);
    }
    // A worker writes the file and records its path; any serve pod must find it there.
    expect(claims.size).toBe(1);
    const pvc = find<IPersistentVolumeClaim>(objects, 'PersistentVolumeClaim', [...claims][0]!);
    expect(pvc.spec!.accessModes).toContain('ReadWriteMany');
  });

  it('every container has CPU and memory requests and limits, limits above requests and above the measured peaks', () => {
    load();
    for (const d of [serve, worker]) {
      for (const c of containersOf(d)) {
        const where = `${d.metadata!.name}/${c.name}`;
        const { requests = {}, limits = {} } = c.resources ?? {};
        for (const r of ['cpu', 'memory']) {
          expect(quantity(requests[r]), `${where} requests.${r}`).toBeGreaterThan(0);
          expect(quantity(limits[r]), `${where} limits.${r}`).toBeGreaterThanOrEqual(quantity(requests[r]));
        }
      }
    }
    expect(quantity(containersOf(serve)[0]!.resources!.limits!.memory)).toBeGreaterThanOrEqual(SERVE_PEAK_RSS * HEADROOM);
    expect(quantity(containersOf(worker)[0]!.resources!.limits!.memory)).toBeGreaterThanOrEqual(WORKER_PEAK_RSS * HEADROOM);
  });

  it('the ServiceAccount mounts no token, and both Deployments use it without one', () => {
    load();
    const accounts = all<IServiceAccount>(objects, 'ServiceAccount');
    expect(accounts).toHaveLength(1);
    expect(accounts[0]!.automountServiceAccountToken).toBe(false);
    for (const d of [serve, worker]) {
      expect(podSpec(d).serviceAccountName).toBe(accounts[0]!.metadata!.name);
      expect(podSpec(d).automountServiceAccountToken).toBe(false);
    }
  });

  it('ships the Grafana dashboard as a ConfigMap labelled grafana_dashboard="1", identical to deploy/grafana/tessera-dashboard.json', () => {
    load();
    const cm = find<IConfigMap>(objects, 'ConfigMap', 'tessera-grafana-dashboard');
    expect(cm.metadata!.labels?.grafana_dashboard).toBe('1');
    const shipped = cm.data?.['tessera-dashboard.json'];
    expect(shipped).toBeDefined();
    expect(JSON.parse(shipped!)).toEqual(JSON.parse(readFileSync(join(DEPLOY, 'grafana/tessera-dashboard.json'), 'utf8')));
  });
});

describe('deploy/overlays/example', () => {
  it('renders the base in namespace "tessera" with an issuer, a ReadWriteMany storage class and Pod Security "restricted"', () => {
    const objects = kustomize(join(DEPLOY, 'overlays/example'));
    validateAll(objects);
    const ns = find<K8sObject>(objects, 'Namespace', 'tessera');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects.filter((o) => o.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('tessera');
    const config = all<IConfigMap>(objects, 'ConfigMap').find((c) => c.metadata!.name!.startsWith('tessera-config'))!;
    expect(loadConfig({ ...config.data, REDIS_URL: 'redis://redis:6379' }).issuer).toMatch(/^https:\/\//);
    expect(find<IPersistentVolumeClaim>(objects, 'PersistentVolumeClaim', 'tessera-exports').spec!.storageClassName).toBeTruthy();
    // The overlay keeps every workload of the base.
    for (const name of ['tessera-serve', 'tessera-worker']) find<IDeployment>(objects, 'Deployment', name);
    find<IConfigMap>(objects, 'ConfigMap', 'tessera-grafana-dashboard');
  });
});

describe('deploy/components/keda-worker-autoscaling', () => {
  let dir: string;
  beforeAll(() => {
    // A throwaway overlay: the base plus the component (kustomize takes relative paths only).
    dir = mkdtempSync(join(tmpdir(), 'tessera-keda-'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources:\n  - ${relative(dir, join(DEPLOY, 'base'))}\ncomponents:\n  - ${relative(dir, join(DEPLOY, 'components/keda-worker-autoscaling'))}\n`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('scales the worker Deployment on the depth of real queues, and hands it the replica count', () => {
    const objects = kustomize(dir);
    validateAll(objects.filter((o) => o.kind !== 'ScaledObject'));
    const worker = find<IDeployment>(objects, 'Deployment', 'tessera-worker');
    expect(worker.spec!.replicas, 'KEDA owns the replica count').toBeUndefined();
    const so = find<{ spec: { scaleTargetRef: { name: string; kind?: string }; minReplicaCount: number; maxReplicaCount: number; triggers: { type: string; metadata: { query: string; threshold: string } }[] } }>(
      objects,
      'ScaledObject',
      'tessera-worker',
    );
    expect(so.spec.scaleTargetRef.name).toBe(worker.metadata!.name);
    expect(so.spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    // The expiry sweep and assignment expiry need a worker at all times.
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
    const queues = new Set<string>(Object.values(QUEUE_NAMES));
    expect(so.spec.triggers.length).toBeGreaterThan(0);
    for (const t of so.spec.triggers) {
      expect(t.type).toBe('prometheus');
      const queue = /queue="([^"]+)"/.exec(t.metadata.query)?.[1];
      expect(queues.has(queue!), `queue ${queue}`).toBe(true);
      expect(metricNames(t.metadata.query)).toEqual(['tessera_jobs']);
      expect(Number(t.metadata.threshold)).toBeGreaterThan(0);
    }
  });
});

// ---- Grafana dashboard ---------------------------------------------------------------

interface Panel {
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query?: string }; datasource?: { uid?: string } }[] };
}

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/tessera-dashboard.json'), 'utf8')) as Dashboard;
const panels = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
const queryPanels = panels(dashboard.panels).filter((p) => p.targets?.length);
const exprs = queryPanels.flatMap((p) => p.targets!.map((t) => t.expr ?? ''));

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression selects (functions, keywords, labels and Grafana variables left out). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = bare[m.index - 1] ?? ' ';
    const after = bare.slice(m.index + m[0].length).trimStart();
    if (/[0-9.]/.test(before) || after.startsWith('(') || PROMQL_WORDS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** Metric names in template variables: label_values(<metric>{…}, <label>). */
const variableMetrics = dashboard.templating.list.flatMap((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const m = q ? /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(q) : null;
  return m ? [m[1]!] : [];
});

describe('deploy/grafana/tessera-dashboard.json', () => {
  let t: TestTessera | undefined;
  afterAll(() => t?.close());

  it('queries through the ${datasource} variable and filters every expression by the $job and $instance variables', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')?.type).toBe('datasource');
    expect(vars.get('job')?.type).toBe('query');
    expect(vars.get('instance')?.type).toBe('query');
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      for (const target of p.targets!) {
        expect(target.datasource?.uid ?? p.datasource?.uid, p.title).toBe('${datasource}');
        expect(target.expr, p.title).toContain('job=~"$job"');
        expect(target.expr, p.title).toContain('instance=~"$instance"');
      }
    }
  });

  it('has a panel for each signal the issue asks for', () => {
    const used = new Set(exprs.flatMap(metricNames));
    for (const family of [
      'tessera_token_requests_total',
      'tessera_token_request_duration_seconds_bucket',
      'tessera_login_failures_total',
      'tessera_rate_limited_total',
      'tessera_jobs',
      'tessera_backing_errors_total',
      'tessera_entitlement_cache_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(used.has(family), family).toBe(true);
    }
    for (const q of [0.5, 0.95, 0.99]) expect(exprs.some((e) => e.startsWith(`histogram_quantile(${q},`) && e.includes('tessera_token_request_duration_seconds_bucket'))).toBe(true);
  });

  it('every metric family it queries exists on the /metrics of a running Tessera', async () => {
    t = await startTessera();
    const res = await fetch(`${t.issuer}/metrics`);
    expect(res.status).toBe(200);
    const families = new Map<string, string>();
    for (const line of (await res.text()).split('\n')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) families.set(m[1]!, m[2]!);
    }
    expect(families.get('process_resident_memory_bytes')).toBe('gauge');
    const family = (name: string) => {
      if (families.has(name)) return name;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return base !== name && ['histogram', 'summary'].includes(families.get(base) ?? '') ? base : undefined;
    };
    const referenced = [...new Set([...exprs.flatMap(metricNames), ...variableMetrics])].sort();
    expect(referenced.length).toBeGreaterThan(5);
    const missing = referenced.filter((name) => !family(name));
    expect(missing, `queried by the dashboard but not on /metrics (have: ${[...families.keys()].filter((f) => f.startsWith('tessera_')).join(', ')})`).toEqual([]);
  });
});
