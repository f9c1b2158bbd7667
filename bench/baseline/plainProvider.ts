/**
 * Child process for bench/token.ts: a plain oidc-provider with nothing of
 * Tessera in it, configured to issue the same tokens (same ES256 key, JWT
 * access tokens for the same resource indicator with the same scopes,
 * refresh-token rotation, Redis-backed models). Refresh tokens are minted
 * programmatically and printed on the `READY {json}` line.
 */
import { Redis } from 'ioredis';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { createBaselineAdapter } from './redisAdapter.ts';

const env = process.env;
const port = Number(env.BENCH_PORT);
const issuer = `http://127.0.0.1:${port}`;
const audience = `${issuer}/api`;
const ccScope = env.BENCH_CC_SCOPE!;
const userScope = env.BENCH_USER_SCOPE!;
const accountId = env.BENCH_ACCOUNT_ID ?? 'bench-user';
const tokens = Number(env.BENCH_REFRESH_TOKENS ?? '16');

const redis = new Redis(env.BENCH_REDIS_URL!, { lazyConnect: false });
const Adapter = createBaselineAdapter(redis, env.BENCH_REDIS_PREFIX!);

const configuration: Configuration = {
  adapter: Adapter as unknown as Configuration['adapter'],
  clients: [
    {
      client_id: env.BENCH_CC_CLIENT_ID!,
      client_secret: env.BENCH_CC_CLIENT_SECRET!,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: env.BENCH_WEB_CLIENT_ID!,
      client_secret: env.BENCH_WEB_CLIENT_SECRET!,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [env.BENCH_REDIRECT_URI!],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Access tokens ES256, ID tokens RS256: the same keys and algorithms as Tessera's defaults.
  clientDefaults: { id_token_signed_response_alg: 'RS256', grant_types: ['authorization_code'], response_types: ['code'] },
  jwks: { keys: [JSON.parse(env.BENCH_PRIVATE_JWK!), JSON.parse(env.BENCH_ID_TOKEN_JWK!)] },
  cookies: { keys: ['baseline-cookie-key-not-used-by-the-token-endpoint'] },
  scopes: ['openid', 'offline_access'],
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  rotateRefreshToken: true,
  ttl: { AccessToken: 300, ClientCredentials: 300, RefreshToken: 14 * 86_400, Grant: 14 * 86_400, IdToken: 3_600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx: KoaContextWithOIDC) {
        const cc = ctx.oidc.params?.grant_type === 'client_credentials';
        // Same behaviour as Tessera for client credentials without `scope`: everything entitled.
        if (cc && !ctx.oidc.params!.scope) ctx.oidc.params!.scope = ccScope;
        return { scope: cc ? ccScope : userScope, audience, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  // Same extra claim shape as Tessera's access tokens (tid; sid/auth_time for users) so tokens are the same size.
  extraTokenClaims: (async (_ctx: KoaContextWithOIDC, token: { accountId?: string; sid?: string }) => ({
    tid: '00000000-0000-4000-8000-000000000000',
    ...(token.accountId ? { sid: token.sid ?? 'bench-sid', auth_time: Math.floor(Date.now() / 1000) } : {}),
  })) as Configuration['extraTokenClaims'],
};

const provider = new Provider(issuer, configuration);

async function mintRefreshToken(): Promise<string> {
  const client = await provider.Client.find(env.BENCH_WEB_CLIENT_ID!);
  const grant = new provider.Grant({ accountId, clientId: client!.clientId });
  grant.addOIDCScope('openid offline_access');
  grant.addResourceScope(audience, userScope);
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({
    client: client!,
    accountId,
    grantId,
    gty: 'authorization_code',
    scope: `openid offline_access ${userScope}`,
    resource: audience,
    authTime: Math.floor(Date.now() / 1000),
    sid: 'bench-sid',
    expiresWithSession: false,
  } as unknown as ConstructorParameters<typeof provider.RefreshToken>[0]);
  return rt.save();
}

const refreshTokens: string[] = [];
for (let i = 0; i < tokens; i++) refreshTokens.push(await mintRefreshToken());

const server = provider.listen(port, '127.0.0.1');
server.once('listening', () => process.stdout.write(`READY ${JSON.stringify({ issuer, refreshTokens })}\n`));

const stop = () => {
  server.close();
  redis.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
