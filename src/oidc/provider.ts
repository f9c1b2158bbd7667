import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/index.ts';
import type { KeySet } from '../services/signingKeys.ts';
import { ID_TOKEN_DEFAULT_ALG, signingAlgs } from '../services/signingKeys.ts';
import { verifyClientSecret } from '../services/credentials.ts';
import type { BrandingLookup } from '../services/branding.ts';
import { messagePage } from '../views/pages.ts';
import { esc, layout } from '../views/layout.ts';
import { EXTRA_CLIENT_METADATA, type TesseraClientFields } from './clients.ts';
import { OIDC_SCOPES, type ResourcePolicy } from './resources.ts';
import type { Adapter, FindAccount } from 'oidc-provider';
import als from 'oidc-provider/lib/helpers/als.js';
import { useAmbientRequest } from '../runtime/requestContext.ts';

export interface ProviderDeps {
  config: Config;
  keys: KeySet;
  cookieKeys: string[];
  adapterFor: (model: string) => Adapter;
  /** Starts reading a stored model for the current request ahead of the provider's own lookup (redisAdapter.ts). */
  readAhead?: (model: string, id: string) => void;
  findAccount: FindAccount;
  resources: ResourcePolicy;
  branding: BrandingLookup;
}

const ASYMMETRIC = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;

const tenantOf = (ctx: KoaContextWithOIDC) => (ctx.oidc?.client as unknown as TesseraClientFields | undefined)?.tenant_id;

type PolicyClient = { clientId: string; clientAuthMethod: string };

/**
 * Who may introspect a token (CHECKLIST 20). oidc-provider's default shows any
 * token, refresh tokens included, to any confidential client, in any tenant.
 * Here a client sees its own tokens; besides that, a confidential client of the
 * same tenant may check access tokens only, as a resource server of opaque tokens does.
 */
async function introspectionAllowed(ctx: KoaContextWithOIDC, caller: PolicyClient, token: { kind: string; clientId?: string }): Promise<boolean> {
  if (token.clientId === caller.clientId) return true;
  if (token.kind !== 'AccessToken' || caller.clientAuthMethod === 'none' || !token.clientId) return false;
  const owner = (await ctx.oidc.provider.Client.find(token.clientId)) as unknown as TesseraClientFields | undefined;
  return owner !== undefined && owner.tenant_id === tenantOf(ctx);
}

/**
 * oidc-provider looks a stored client up through the adapter on every request
 * and, to decide whether to build its Client again, hashes the whole metadata
 * (SHA-256 over its JSON) each time: a tenth of a client-credentials request's
 * own work (bench/token). Tessera's client directory already returns one
 * metadata object per client and tenant version, so the built Client is kept
 * per metadata object: a new version gives a new object and a new build, and
 * an old object is collected with the directory's cache entry.
 */
function memoiseBuiltClients(provider: Provider, adapter: Adapter): void {
  const model = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const find = model.find.bind(model);
  const built = new WeakMap<object, unknown>();
  model.find = (id: unknown) => {
    if (typeof id !== 'string' || !id) return find(id);
    return adapter.find(id).then((properties) => {
      if (!properties) return find(id);
      const client = built.get(properties);
      if (client) return client;
      // Builds from the adapter's current answer, which is never older than `properties`.
      return find(id).then((fresh) => {
        if (fresh) built.set(properties, fresh);
        return fresh;
      });
    });
  };
}

/**
 * A refresh at the token endpoint reads the client (tenant and client versions) and then the refresh
 * token, one round trip after the other. Both are known once the client is looked up, so the token's
 * read starts then and goes out in the same round trip; the provider's own lookup takes it. Read after
 * the request arrived, like the provider's; reuse is still decided by the atomic consume.
 */
function readRefreshTokenWithClient(provider: Provider, readAhead: (model: string, id: string) => void): void {
  const model = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const find = model.find.bind(model);
  model.find = (id: unknown) => {
    const oidc = (als.getStore() as KoaContextWithOIDC | undefined)?.oidc;
    const params = oidc?.params;
    if (oidc?.route === 'token' && params?.grant_type === 'refresh_token' && typeof params.refresh_token === 'string' && params.refresh_token) {
      readAhead('RefreshToken', params.refresh_token);
    }
    return find(id);
  };
}

/**
 * RFC 6749 §5.2 names "no client authentication included" as invalid_client
 * (401); oidc-provider answers 400 invalid_request, which callers of
 * introspection and revocation would not read as an authentication failure.
 */
function noClientAuthIsInvalidClient(ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> {
  // A reaction, not an async wrapper: this runs on every provider request.
  return next().then(() => answerNoClientAuth(ctx));
}

function answerNoClientAuth(ctx: KoaContextWithOIDC): void {
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (ctx.status === 400 && body?.error === 'invalid_request' && body.error_description === 'no client authentication mechanism provided') {
    ctx.status = 401;
    ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
  }
}

/**
 * The default prompts plus one login check: a session whose account findAccount
 * refuses (suspended, deleted, or signed in before the user's revocation time)
 * must sign in again. Without it oidc-provider would go on with no account.
 */
function interactionPolicyWithRevocation() {
  const policy = interactionPolicy.base();
  const { Check } = interactionPolicy;
  // A native client is asked for consent on every sign-in by default (its redirect can't prove who it
  // is); a first-party native app is the operator's own and skips consent like other first-party
  // clients (SPEC §6), its reach bounded by its allowed scopes (SPEC §4).
  const nativePrompt = policy.get('consent')!.checks.get('native_client_prompt');
  if (nativePrompt) {
    const original = nativePrompt.check;
    nativePrompt.check = (ctx) => ((ctx.oidc.client as unknown as TesseraClientFields | undefined)?.first_party ? Check.NO_NEED_TO_PROMPT : original(ctx));
  }
  policy.get('login')!.checks.push(
    // login_required, not interaction_required: with prompt=none the RP must learn that a sign-in is
    // needed (OIDC Core §3.1.2.6), e.g. a session of another tenant at this tenant's client.
    new Check('session_revoked', 'the session can no longer be used, sign in again', 'login_required', (ctx) =>
      ctx.oidc.session?.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );
  return policy;
}

/** The one place Tessera builds its oidc-provider. Every non-default setting says why. */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, resources } = deps;
  const secure = config.issuer.startsWith('https://');
  const alg = config.TESSERA_SIGNING_ALG;

  const configuration: Configuration = {
    // Redis for every model; clients come read-only from Postgres.
    adapter: deps.adapterFor as unknown as Configuration['adapter'],
    findAccount: deps.findAccount,
    // Keys live in Postgres and are imported once at boot (services/signingKeys.ts).
    jwks: deps.keys.jwks as Configuration['jwks'],
    cookies: {
      // Shared by every process through Postgres, so any process can read any cookie.
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, secure, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, secure, sameSite: 'lax' },
    },
    // Capability scopes belong to resource servers; these are the only OP-level scopes.
    scopes: [...OIDC_SCOPES],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    // Only the code flow: implicit and hybrid are deprecated by RFC 9700.
    responseTypes: ['code'],
    // No symmetric client authentication: secrets are stored hashed, so they can't be HMAC keys.
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: [...ASYMMETRIC],
      // What Tessera keeps an active key for (services/signingKeys.ts): discovery lists exactly these.
      idTokenSigningAlgValues: signingAlgs(alg),
      requestObjectSigningAlgValues: [...ASYMMETRIC],
      userinfoSigningAlgValues: [...ASYMMETRIC],
      introspectionSigningAlgValues: [...ASYMMETRIC],
      authorizationSigningAlgValues: [...ASYMMETRIC],
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      // RS256 unless the client registered another: OIDC Core §15.1 and Registration §2 make it the
      // default every RP may assume (openid-client v5, express-openid-connect and others insist on it).
      id_token_signed_response_alg: ID_TOKEN_DEFAULT_ALG,
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    extraClientMetadata: { properties: [...EXTRA_CLIENT_METADATA] },
    // PKCE for every client, confidential ones too (RFC 9700 §2.1.1); only S256 exists in v9.
    pkce: { required: () => true },
    // Exact redirect_uri at the token endpoint, even for single-URI clients (CHECKLIST 2).
    allowOmittingSingleRegisteredRedirectUri: false,
    // A refresh token for every client allowed the grant; without offline_access it dies with the
    // session (expiresWithSession), so OIDC's prompt=consent rule for offline_access still holds.
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Rotation on every use; reuse of a rotated token revokes the grant (SPEC §6).
    rotateRefreshToken: true,
    ttl: {
      AccessToken: config.TESSERA_ACCESS_TOKEN_TTL,
      ClientCredentials: config.TESSERA_ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: config.TESSERA_ID_TOKEN_TTL,
      Interaction: 900,
      Grant: config.TESSERA_REFRESH_TOKEN_TTL,
      RefreshToken: config.TESSERA_REFRESH_TOKEN_TTL,
      Session: config.TESSERA_SESSION_TTL,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: interactionPolicyWithRevocation() },
    // First-party clients skip consent: their grant is extended with whatever they ask for.
    async loadExistingGrant(ctx) {
      const client = ctx.oidc.client!;
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!(client as unknown as TesseraClientFields).first_party) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: ctx.oidc.session!.accountId! });
      const requested = [...ctx.oidc.requestParamScopes];
      grant.addOIDCScope(requested.filter((s) => (OIDC_SCOPES as readonly string[]).includes(s)).join(' '));
      for (const [indicator, rs] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        const available = new Set((rs.scope ?? '').split(' '));
        grant.addResourceScope(indicator, requested.filter((s) => available.has(s)).join(' '));
      }
      await grant.save();
      return grant;
    },
    features: {
      // Sign-in pages are Tessera's own (http/routes/interaction.ts).
      devInteractions: { enabled: false },
      // Off, and so not advertised: a sender-constrained token is only worth issuing if every place that
      // accepts Tessera tokens (admin API, introspection, the resource-server helper, RPs' APIs) checks
      // the proof. Until that holds end to end, DPoP would promise a binding nobody enforces (README).
      dPoP: { enabled: false },
      // OIDC Back-Channel Logout 1.0: clients may register backchannel_logout_uri; Tessera sends logout
      // tokens when a revocation ends their sessions (oidc/backchannel.ts), as on RP-initiated logout.
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: true },
      // Cast: @types/oidc-provider only admits introspection alongside rich authorization requests.
      introspection: { enabled: true, allowedPolicy: introspectionAllowed } as never,
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const branding = await deps.branding.forTenant(tenantOf(ctx));
          ctx.body = layout(
            'Sign out',
            branding,
            `<h1>Sign out?</h1>${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" class="secondary" form="op.logoutForm">No, stay signed in</button>`,
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = messagePage(await deps.branding.forTenant(tenantOf(ctx)), 'Signed out', 'You are signed out.');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: resources.defaultResource,
        useGrantedResource: resources.useGrantedResource as never,
        getResourceServerInfo: resources.getResourceServerInfo,
      },
    },
    extraTokenClaims: resources.extraTokenClaims as Configuration['extraTokenClaims'],
    // Outbound calls (back-channel logout) refuse loopback and private addresses (oidc-provider's guard
    // against request forgery) unless TESSERA_ALLOW_PRIVATE_OUTBOUND says so, for local development and tests.
    ...(config.TESSERA_ALLOW_PRIVATE_OUTBOUND
      ? {
          fetch: (url: string | URL | Request, options?: RequestInit) => {
            delete (options as { dispatcher?: unknown } | undefined)?.dispatcher;
            return globalThis.fetch(url, options);
          },
        }
      : {}),
    // CORS only for browser-based (public) clients, from their redirect origins.
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null') return false;
      if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
      return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
    },
    // A branded page that never echoes internals: 5xx shows only the error code.
    async renderError(ctx, out) {
      const branding = await deps.branding.forTenant(tenantOf(ctx)).catch(() => undefined);
      const description = ctx.status >= 500 ? 'Something went wrong on our side. Try again shortly.' : out.error_description;
      ctx.type = 'html';
      ctx.body = layout(
        'Error',
        branding ?? { displayName: 'Tessera', logoUrl: null, accentColor: null },
        `<h1>This request could not be completed</h1><p class="error"><code>${esc(out.error)}</code><br>${esc(description ?? '')}</p>`,
      );
    },
  };

  const provider = new Provider(config.issuer, configuration);
  // Behind a TLS-terminating proxy the issuer is https while the socket is not.
  provider.proxy = config.TESSERA_TRUST_PROXY;
  // `client_secret` holds a SHA-256 hash (secrets are stored hashed, SPEC §2); compare against it.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return verifyClientSecret(this.clientSecret, actual);
  };
  memoiseBuiltClients(provider, deps.adapterFor('Client'));
  if (deps.readAhead) readRefreshTokenWithClient(provider, deps.readAhead);
  // One request store for the process: the provider's own, which Tessera's routes share (runtime/requestContext.ts).
  useAmbientRequest({ current: () => als.getStore(), run: (holder, fn) => als.run(holder, fn) });
  // User tokens always carry `sid` (SPEC §6), so codes and ID tokens must record it for every client.
  provider.Client.prototype.includeSid = () => true;
  provider.use(noClientAuthIsInvalidClient);
  return provider;
}
