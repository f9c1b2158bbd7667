/**
 * Interop, resource servers (issue 12): unmodified token-verification
 * libraries on their README defaults accept Tessera's access tokens for their
 * audience (a person's, from a code flow, and a service's, from client
 * credentials) signed with ES256, then RS256, and refuse a token for another
 * audience and a tampered one.
 *
 * Libraries: express-oauth2-jwt-bearer, jose, jsonwebtoken + jwks-rsa,
 * Debian's python3-jwt (PyJWT), and Tessera's own @tessera/resource-server.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import express from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import jwksClient from 'jwks-rsa';
import jwt, { type GetPublicKeyOrSecret, type JwtPayload } from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../packages/resource-server/src/index.js';
import { serviceToken } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { ALGS, AUDIENCE, CAPABILITY, headerOf, listen, scopesOf, startInterop, type Interop } from './harness.ts';

const run = promisify(execFile);
const PYJWT = fileURLToPath(new URL('./pyjwt_verify.py', import.meta.url));
/** Debian's interpreter, where python3-jwt is installed (a pyenv python3 earlier on PATH wouldn't have it). */
const DEBIAN_PYTHON = '/usr/bin/python3';

describe.each(ALGS)('resource servers verifying access tokens signed with %s', (alg) => {
  let env: Interop;
  let issuer: string;
  /** A person's token for the API (code + PKCE with resource), a service's (client credentials), and one for the admin API instead. */
  let personal: string;
  let service: string;
  let otherAudience: string;
  let tampered: string;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    env = await startInterop(alg);
    issuer = env.t.issuer;
    const app = await env.webApp([REDIRECT_URI]);
    const { tokens } = await signIn(issuer, await discover(issuer, app.id, app.secret), env.person, { scope: `openid ${CAPABILITY}`, resource: AUDIENCE });
    personal = tokens.access_token;
    const svc = await env.serviceApp();
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${svc.id}:${svc.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: CAPABILITY, resource: AUDIENCE }).toString(),
    });
    service = ((await res.json()) as { access_token: string }).access_token;
    otherAudience = await serviceToken(env.t, svc.id, svc.secret, CAPABILITY);
    const [h, p, s] = personal.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`;
    for (const token of [personal, service]) {
      expect(headerOf(token).alg).toBe(alg);
      expect(scopesOf(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).scope).has(CAPABILITY)).toBe(true);
    }
  });
  afterAll(async () => {
    await Promise.all(closers.map((c) => c()));
    await env?.close();
  });

  it('express-oauth2-jwt-bearer: auth({ issuerBaseURL, audience }) + requiredScopes', async () => {
    const api = await listen();
    closers.push(api.close);
    const app = express();
    app.use(auth({ issuerBaseURL: issuer, audience: AUDIENCE }));
    app.get('/reports', requiredScopes(CAPABILITY), (req, res) => res.json({ sub: req.auth!.payload.sub }));
    app.get('/admin', requiredScopes('users:manage'), (_req, res) => res.json({ ok: true }));
    // Its RFC 9068 profile (typ at+jwt, sub, client_id, jti, iat required) passes too.
    app.get('/strict', auth({ issuerBaseURL: issuer, audience: AUDIENCE, strict: true }), (req, res) => res.json({ typ: req.auth!.header.typ }));
    api.handle(app);
    const call = (path: string, token: string) => fetch(`${api.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await (await call('/reports', personal)).json()).toEqual({ sub: env.person.id });
    expect((await call('/reports', service)).status).toBe(200);
    expect(await (await call('/strict', personal)).json()).toEqual({ typ: 'at+jwt' });
    expect((await call('/admin', personal)).status).toBe(403);
    expect((await call('/reports', otherAudience)).status).toBe(401);
    expect((await call('/reports', tampered)).status).toBe(401);
  });

  it('jose: createRemoteJWKSet + jwtVerify', async () => {
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const verify = (token: string) => jwtVerify(token, jwks, { issuer, audience: AUDIENCE });
    expect((await verify(personal)).payload.sub).toBe(env.person.id);
    expect((await verify(service)).protectedHeader.alg).toBe(alg);
    await expect(verify(otherAudience)).rejects.toThrow(/aud/);
    await expect(verify(tampered)).rejects.toThrow(/signature/);
  });

  it('jsonwebtoken + jwks-rsa: verify with a getKey callback', async () => {
    const client = jwksClient({ jwksUri: `${issuer}/jwks` });
    const getKey: GetPublicKeyOrSecret = (header, callback) => {
      client.getSigningKey(header.kid, (err, key) => callback(err, key?.getPublicKey()));
    };
    const verify = (token: string) =>
      new Promise<JwtPayload>((resolve, reject) =>
        jwt.verify(token, getKey, { audience: AUDIENCE, issuer, algorithms: [alg] }, (err, decoded) => (err ? reject(err) : resolve(decoded as JwtPayload))),
      );
    expect((await verify(personal)).sub).toBe(env.person.id);
    expect(scopesOf((await verify(service)).scope).has(CAPABILITY)).toBe(true);
    await expect(verify(otherAudience)).rejects.toThrow(/audience/);
    await expect(verify(tampered)).rejects.toThrow(/signature/);
  });

  it('python3-jwt (Debian): PyJWKClient + jwt.decode', async () => {
    const verify = (token: string) => run(DEBIAN_PYTHON, [PYJWT, `${issuer}/jwks`, issuer, AUDIENCE, alg, token]);
    expect(JSON.parse((await verify(personal)).stdout).sub).toBe(env.person.id);
    expect(scopesOf(JSON.parse((await verify(service)).stdout).scope).has(CAPABILITY)).toBe(true);
    await expect(verify(otherAudience)).rejects.toMatchObject({ stderr: expect.stringContaining('InvalidAudienceError') });
    await expect(verify(tampered)).rejects.toMatchObject({ stderr: expect.stringContaining('InvalidSignatureError') });
  });

  it('@tessera/resource-server: createTokenVerifier with the tenant pinned', async () => {
    const verifier = createTokenVerifier({ issuer, audience: AUDIENCE, tenants: [env.t.tenantId] });
    closers.push(() => verifier.close());
    expect((await verifier.verify(personal, { scopes: [CAPABILITY] })).sub).toBe(env.person.id);
    await verifier.verify(service, { scopes: [CAPABILITY] });
    await expect(verifier.verify(otherAudience)).rejects.toThrow();
    await expect(verifier.verify(tampered)).rejects.toThrow();
  });
});
