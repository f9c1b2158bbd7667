import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { Browser, parseForm } from './browser.ts';

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

/** openid-client configuration for a Tessera client over plain HTTP on loopback. */
export async function discover(issuer: string, clientId: string, secret?: string): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, secret, secret ? client.ClientSecretBasic(secret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

export interface SignIn {
  browser: Browser;
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
}

/**
 * Authorization code + PKCE through the real login form: openid-client builds
 * the request and redeems the code, a cookie-jar browser fills in the form.
 */
export async function signIn(
  issuer: string,
  config: client.Configuration,
  user: { email: string; password: string },
  opts: { scope: string; browser?: Browser; resource?: string; consent?: boolean } = { scope: 'openid' },
): Promise<SignIn> {
  const browser = opts.browser ?? new Browser();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: opts.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(opts.resource ? { resource: opts.resource } : {}),
  });
  let step = await browser.follow(url.toString(), issuer);
  for (let i = 0; i < 4 && !step.url.startsWith(REDIRECT_URI); i++) {
    const html = await step.res.text();
    if (step.res.status !== 200) throw new Error(`unexpected ${step.res.status} at ${step.url}: ${html.slice(0, 300)}`);
    const form = parseForm(html);
    const fields = form.action.endsWith('/login') ? { ...form.fields, email: user.email, password: user.password } : form.fields;
    const res = await browser.post(new URL(form.action, issuer).toString(), fields);
    step = await browser.follow(new URL(res.headers.get('location') ?? step.url, issuer).toString(), issuer);
  }
  if (!step.url.startsWith(REDIRECT_URI)) throw new Error(`did not reach the redirect URI: ${step.url}`);
  const tokens = await client.authorizationCodeGrant(config, new URL(step.url), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { browser, tokens };
}

/** Verifies an access token as a resource server would: JWKS, issuer, audience, RFC 9068 typ. */
export async function verifyAccessToken(issuer: string, token: string, audience = `${issuer}/api`): Promise<JWTPayload & { scope?: string; tid?: string }> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt' });
  if (protectedHeader.typ !== 'at+jwt') throw new Error('not an RFC 9068 access token');
  return payload as JWTPayload & { scope?: string; tid?: string };
}

export const scopesOf = (payload: { scope?: string }) => new Set((payload.scope ?? '').split(' ').filter(Boolean));

/** Opens the sign-in page of a fresh authorization request (code + PKCE): the browser holding its cookies, and the form to post. */
export async function openLoginForm(issuer: string, config: client.Configuration, scope = 'openid'): Promise<{ browser: Browser; action: string; fields: Record<string, string> }> {
  const browser = new Browser();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res } = await browser.follow(url.toString(), issuer);
  const form = parseForm(await res.text());
  return { browser, action: new URL(form.action, issuer).toString(), fields: form.fields };
}
