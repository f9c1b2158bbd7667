import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, SIGNING_ALGS, type SigningAlg } from './config/index.ts';
import { createLogger } from './log/index.ts';
import { createCore, type Core } from './app/index.ts';
import { REMOTE_COMMANDS, sendControl } from './app/control.ts';
import { StartupError } from './errors/startup.ts';
import { bootstrapTenant, DEFAULT_TENANT, formatBootstrap } from './services/bootstrap.ts';
import { systemAccess } from './services/authority.ts';
import { findTenantBySlug } from './queries/tenants.ts';
import { findUserByEmail } from './queries/users.ts';
import { findGroupByName } from './queries/groups.ts';
import { describeKeys, KeyRotationError, promoteKey, retireKey, rotationPolicy, stageKey } from './services/signingKeys.ts';
import { announceKeyChange } from './oidc/keyRing.ts';
import { insertResourceServer } from './queries/clients.ts';

const HELP = `tessera cli <command> [options]   (npm run cli -- <command> ...)

  bootstrap [--tenant slug] [--owner-email e] [--owner-password p]
                                       create a tenant with Owner and admin client; prints credentials once
  rotate-client-secret --tenant t --client id
                                       issue a new secret for a client and print it once
  create-user --tenant t --email e [--password p] [--name n]
  create-client --tenant t --name n --type web|spa|native|service [--redirect-uri u ...]
                [--post-logout-redirect-uri u ...] [--first-party] [--allowed-scope s ...]
  create-role --tenant t --name n --capability c [--capability c ...] [--description d]
  create-group --tenant t --name n
  add-member --tenant t --group name --email e
  add-subgroup --tenant t --parent name --child name
  assign-role --tenant t --role slug (--email e | --group name | --client id) [--expires-at iso]
  unassign-role --tenant t --role slug (--email e | --group name | --client id)
  suspend-user | reactivate-user --tenant t --email e
  create-resource-server --tenant t --indicator uri --name n [--format jwt|opaque]
  list-keys                            signing keys with their status and when each may move on
  stage-key [--alg ES256]              publish a new signing key in JWKS without signing with it
  promote-key --kid k [--force]        make a staged key sign (after TESSERA_KEY_PROPAGATION_SECONDS)
  retire-key --kid k [--force]         unpublish a key once every token it signed has expired;
                                       --force skips the wait (a compromised key)
  verify-audit-chain --tenant t        check the tenant's audit hash chain
`;

const options = {
  tenant: { type: 'string' },
  email: { type: 'string' },
  password: { type: 'string' },
  name: { type: 'string' },
  description: { type: 'string' },
  type: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'allowed-scope': { type: 'string', multiple: true },
  'first-party': { type: 'boolean' },
  capability: { type: 'string', multiple: true },
  group: { type: 'string' },
  parent: { type: 'string' },
  child: { type: 'string' },
  role: { type: 'string' },
  client: { type: 'string' },
  'expires-at': { type: 'string' },
  'owner-email': { type: 'string' },
  'owner-password': { type: 'string' },
  indicator: { type: 'string' },
  format: { type: 'string' },
  alg: { type: 'string' },
  kid: { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

class UsageError extends Error {}

function need<K extends keyof Values>(v: Values, key: K): NonNullable<Values[K]> {
  const value = v[key];
  if (value === undefined || value === '') throw new UsageError(`--${String(key)} is required`);
  return value as NonNullable<Values[K]>;
}

async function tenantId(core: Core, v: Values): Promise<string> {
  const slug = v.tenant ?? DEFAULT_TENANT;
  const t = await findTenantBySlug(core.db, slug);
  if (!t) throw new UsageError(`no tenant "${slug}"`);
  return t.id;
}

async function userId(core: Core, tid: string, email: string): Promise<string> {
  const u = await findUserByEmail(core.db, tid, email);
  if (!u) throw new UsageError(`no user with email ${email}`);
  return u.id;
}

async function groupId(core: Core, tid: string, name: string): Promise<string> {
  const g = await findGroupByName(core.db, tid, name);
  if (!g) throw new UsageError(`no group named ${name}`);
  return g.id;
}

async function assignee(core: Core, tid: string, v: Values) {
  if (v.email) return { type: 'user' as const, id: await userId(core, tid, v.email) };
  if (v.group) return { type: 'group' as const, id: await groupId(core, tid, v.group) };
  if (v.client) return { type: 'client' as const, id: v.client };
  throw new UsageError('one of --email, --group or --client is required');
}

const print = (value: unknown) => process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);

async function run(command: string, v: Values, core: Core): Promise<number> {
  const { services } = core;
  // The CLI acts as Tessera itself: a system Access with every capability, audited as `system`.
  const system = async () => systemAccess(await tenantId(core, v));
  switch (command) {
    case 'bootstrap': {
      const result = await bootstrapTenant(core, {
        tenant: v.tenant ?? core.config.TESSERA_BOOTSTRAP_TENANT,
        ownerEmail: v['owner-email'] ?? core.config.TESSERA_BOOTSTRAP_OWNER_EMAIL,
        ownerPassword: v['owner-password'] ?? core.config.TESSERA_BOOTSTRAP_OWNER_PASSWORD,
      });
      if (!result) {
        print(`Tenant "${v.tenant ?? DEFAULT_TENANT}" already exists. Use rotate-client-secret to get a new admin client secret.`);
        return 1;
      }
      print(formatBootstrap(core.config.issuer, result));
      return 0;
    }
    case 'rotate-client-secret': {
      const secret = await services.clients.rotateSecret(await system(), need(v, 'client'));
      print(`client_secret: ${secret}`);
      return 0;
    }
    case 'create-user': {
      const u = await services.users.create(await system(), { email: need(v, 'email'), password: v.password, displayName: v.name });
      print({ id: u.id, email: u.email });
      return 0;
    }
    case 'create-client': {
      const type = need(v, 'type');
      if (!['web', 'spa', 'native', 'service'].includes(type)) throw new UsageError('--type must be web, spa, native or service');
      const { client, secret } = await services.clients.create(await system(), {
        name: need(v, 'name'),
        type: type as 'web',
        redirectUris: v['redirect-uri'] ?? [],
        postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
        firstParty: v['first-party'] ?? false,
        allowedScopes: v['allowed-scope'] ?? null,
      });
      print({ client_id: client.id, client_secret: secret ?? undefined, type: client.type });
      return 0;
    }
    case 'create-role': {
      const role = await services.roles.create(await system(), {
        name: need(v, 'name'),
        description: v.description,
        capabilities: need(v, 'capability'),
      });
      print({ slug: role.slug, name: role.name, capabilities: role.capabilities });
      return 0;
    }
    case 'create-group': {
      const g = await services.groups.createGroup(await system(), { name: need(v, 'name') });
      print({ id: g.id, name: g.name });
      return 0;
    }
    case 'add-member': {
      const tid = await tenantId(core, v);
      await services.groups.addMember(systemAccess(tid), await groupId(core, tid, need(v, 'group')), await userId(core, tid, need(v, 'email')));
      return 0;
    }
    case 'add-subgroup': {
      const tid = await tenantId(core, v);
      await services.groups.addSubgroup(systemAccess(tid), await groupId(core, tid, need(v, 'parent')), await groupId(core, tid, need(v, 'child')));
      return 0;
    }
    case 'assign-role':
    case 'unassign-role': {
      const tid = await tenantId(core, v);
      const who = await assignee(core, tid, v);
      const role = need(v, 'role');
      const changed =
        command === 'assign-role'
          ? await services.roles.assign(systemAccess(tid), role, who, v['expires-at'] ? new Date(v['expires-at']) : null)
          : await services.roles.unassign(systemAccess(tid), role, who);
      print(changed ? 'changed' : 'unchanged (already so)');
      return 0;
    }
    case 'suspend-user':
    case 'reactivate-user': {
      const tid = await tenantId(core, v);
      await services.users.setStatus(systemAccess(tid), await userId(core, tid, need(v, 'email')), command === 'suspend-user' ? 'suspended' : 'active');
      return 0;
    }
    case 'create-resource-server': {
      const tid = await tenantId(core, v);
      const format = v.format ?? 'jwt';
      if (format !== 'jwt' && format !== 'opaque') throw new UsageError('--format must be jwt or opaque');
      await core.change(tid, (tx) => insertResourceServer(tx, { tenantId: tid, indicator: need(v, 'indicator'), name: need(v, 'name'), accessTokenFormat: format }));
      return 0;
    }
    case 'list-keys': {
      print(await describeKeys(core.db, rotationPolicy(core.config)));
      return 0;
    }
    case 'stage-key': {
      const alg = (v.alg ?? core.config.TESSERA_SIGNING_ALG) as SigningAlg;
      if (!(SIGNING_ALGS as readonly string[]).includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGS.join(', ')}`);
      const kid = await stageKey(core.db, alg);
      await announceKeyChange(core.redis, core.keys.signingKeysChannel());
      print({ kid, status: 'staged', promotableAfterSeconds: core.config.TESSERA_KEY_PROPAGATION_SECONDS });
      return 0;
    }
    case 'promote-key': {
      const result = await promoteKey(core.db, need(v, 'kid'), rotationPolicy(core.config), { force: v.force });
      await announceKeyChange(core.redis, core.keys.signingKeysChannel());
      print({ kid: result.kid, status: 'active', retiring: result.previous });
      return 0;
    }
    case 'retire-key': {
      const kid = need(v, 'kid');
      await retireKey(core.db, kid, rotationPolicy(core.config), { force: v.force });
      await announceKeyChange(core.redis, core.keys.signingKeysChannel());
      print({ kid, status: 'retired' });
      return 0;
    }
    case 'verify-audit-chain': {
      const result = await core.audit.verifyChain(core.db, await tenantId(core, v));
      print(result);
      return result.ok ? 0 : 3;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options, allowPositionals: true, strict: true });
  const [command] = positionals;
  if (!command || values.help) {
    print(HELP);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  let core: Core;
  try {
    core = await createCore(config, createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL));
  } catch (err) {
    // The embedded database is held by a running Tessera: the commands it serves go through it.
    if (err instanceof StartupError && err.code === 'data_dir_locked' && (REMOTE_COMMANDS as readonly string[]).includes(command)) {
      const answer = await sendControl(config.TESSERA_DATA_DIR, command, { tenant: values.tenant, client: values.client });
      if (!answer.ok) throw new UsageError(`the running Tessera refused: ${answer.error}`);
      print(command === 'rotate-client-secret' ? `client_secret: ${(answer.result as { client_secret: string }).client_secret}` : answer.result);
      return 0;
    }
    throw err;
  }
  try {
    return await run(command, values, core);
  } finally {
    await core.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof KeyRotationError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    const e = err as { status?: number; code?: string; message?: string };
    if (e.status && e.status < 500) {
      process.stderr.write(`${e.code}: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
