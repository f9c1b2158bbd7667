import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { isCapability } from '../../catalogue/index.ts';
import type { Logger } from '../../log/index.ts';
import type { BrandingLookup } from '../../services/branding.ts';
import type { RateLimit, SignIn } from '../../services/signIn.ts';
import type { TesseraClientFields } from '../../oidc/clients.ts';
import { readForm } from '../form.ts';
import { consentPage, loginPage, messagePage } from '../../views/pages.ts';

export type { RateLimit } from '../../services/signIn.ts';

/** What the sign-in pages report (app/metrics.ts counts it); kept free of prom-client so routes don't depend on it. */
export interface SignInMetrics {
  /** Deliberately without the reason (CHECKLIST 36): the audit log has it, for admins. */
  loginFailed(): void;
  rateLimited(limit: RateLimit): void;
}

export interface InteractionDeps {
  /** The current provider (a new one is built after each signing-key change). */
  provider: () => Provider;
  signIn: SignIn;
  branding: BrandingLookup;
  csrfKey: string;
  logger: Logger;
  metrics?: SignInMetrics;
}

const GENERIC_FAILURE = 'The email or password is incorrect.';

/** Server-rendered sign-in and consent for oidc-provider interactions. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const router = new Router({ prefix: '/interaction' });

  const csrfFor = (uid: string) => createHmac('sha256', deps.csrfKey).update(`csrf:${uid}`).digest('base64url');
  const checkCsrf = (uid: string, presented: string | undefined) => {
    const expected = Buffer.from(csrfFor(uid));
    const actual = Buffer.from(presented ?? '');
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };

  async function load(ctx: Context) {
    const details = await deps.provider().interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) ctx.throw(400, 'interaction mismatch');
    const client = await deps.provider().Client.find(String(details.params.client_id));
    if (!client) ctx.throw(400, 'unknown client');
    const fields = client as unknown as TesseraClientFields;
    const branding = await deps.branding.forTenant(fields.tenant_id);
    return { details, client, fields, branding, clientName: client.clientName ?? client.clientId };
  }

  function html(ctx: Context, body: string, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  }

  router.get('/:uid', async (ctx) => {
    const { details, branding, clientName } = await load(ctx);
    const uid = details.uid;
    if (details.prompt.name === 'login') {
      return html(ctx, loginPage({ branding, clientName, action: `/interaction/${uid}/login`, csrf: csrfFor(uid) }));
    }
    const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
    return html(
      ctx,
      consentPage({
        branding,
        clientName,
        action: `/interaction/${uid}/confirm`,
        abortAction: `/interaction/${uid}/abort`,
        csrf: csrfFor(uid),
        scopes: requested.filter(isCapability),
        oidcScopes: requested.filter((s) => !isCapability(s)),
      }),
    );
  });

  router.post('/:uid/login', async (ctx) => {
    const { details, fields, branding, clientName } = await load(ctx);
    const form = await readForm(ctx);
    const uid = details.uid;
    if (!checkCsrf(uid, form.csrf)) return html(ctx, messagePage(branding, 'Request expired', 'Go back to the application and try again.'), 403);
    const email = (form.email ?? '').trim().slice(0, 320);
    const page = (error: string, status = 200) =>
      html(ctx, loginPage({ branding, clientName, action: `/interaction/${uid}/login`, csrf: csrfFor(uid), email, error }), status);
    if (details.prompt.name !== 'login') return page('This step is already complete.', 400);
    const tenantId = fields.tenant_id;
    const client = String(details.params.client_id);
    const outcome = await deps.signIn.attempt({ tenantId, email, password: form.password ?? '', ip: ctx.ip, clientId: client });
    if (!outcome.ok && 'throttled' in outcome) {
      deps.metrics?.rateLimited(outcome.throttled);
      deps.logger.warn({ tenantId, limit: outcome.throttled, client }, 'sign-in throttled');
      ctx.set('Retry-After', '60');
      return page('Too many attempts. Wait a few minutes and try again.', 429);
    }
    if (!outcome.ok) {
      deps.metrics?.loginFailed();
      deps.logger.info({ tenantId, reason: outcome.reason, client }, 'sign-in failed');
      return page(GENERIC_FAILURE);
    }
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId: outcome.userId, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  });

  router.post('/:uid/confirm', async (ctx) => {
    const { details, branding } = await load(ctx);
    const form = await readForm(ctx);
    if (!checkCsrf(details.uid, form.csrf)) return html(ctx, messagePage(branding, 'Request expired', 'Go back to the application and try again.'), 403);
    if (details.prompt.name !== 'consent') return html(ctx, messagePage(branding, 'Nothing to confirm', 'This step is already complete.'), 400);
    const { Grant } = deps.provider();
    const grant = details.grantId
      ? (await Grant.find(details.grantId))!
      : new Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await deps.provider().interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
  });

  router.post('/:uid/abort', async (ctx) => {
    const { details, branding } = await load(ctx);
    const form = await readForm(ctx);
    if (!checkCsrf(details.uid, form.csrf)) return html(ctx, messagePage(branding, 'Request expired', 'Go back to the application and try again.'), 403);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'the user denied the request' }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  });

  return router;
}
