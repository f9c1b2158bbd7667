import { AppError } from '../errors/index.ts';
import type { Services } from '../services/index.ts';
import { BrandingPage, type BrandingValues } from '../views/console/branding.tsx';
import { loginPage } from '../views/pages.ts';
import { consolePage, type ConsolePage, field, send } from './core.ts';

const fromQuery = (q: Record<string, unknown>, fallback: BrandingValues): BrandingValues => {
  const s = (k: keyof BrandingValues) => (typeof q[k] === 'string' ? String(q[k]).slice(0, 2_000) : fallback[k]);
  return { display_name: s('display_name'), logo_url: s('logo_url'), accent_color: s('accent_color') };
};

export function brandingPages(deps: { services: Services }): ConsolePage[] {
  const { tenants } = deps.services;
  const current = async (access: Parameters<typeof tenants.branding>[0]): Promise<BrandingValues> => {
    const b = await tenants.branding(access);
    return { display_name: b.display_name, logo_url: b.logo_url ?? '', accent_color: b.accent_color ?? '' };
  };
  return [
    consolePage({
      method: 'GET',
      path: '/branding',
      needs: ['branding:view'],
      async handle(c) {
        // "Preview without saving" sends the form here as a query string.
        send(c.ctx, <BrandingPage viewer={c.viewer} notice={c.notice} values={fromQuery(c.ctx.query, await current(c.access))} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/branding',
      needs: ['branding:edit'],
      async handle(c) {
        const values: BrandingValues = { display_name: field(c.form.one, 'display_name'), logo_url: field(c.form.one, 'logo_url'), accent_color: field(c.form.one, 'accent_color') };
        try {
          await tenants.updateBranding(c.access, { displayName: values.display_name, logoUrl: values.logo_url || null, accentColor: values.accent_color || null });
        } catch (err) {
          if (!(err instanceof AppError) || err.status !== 422) throw err;
          return send(c.ctx, <BrandingPage viewer={c.viewer} values={values} error={err.message} />, 422);
        }
        await c.redirect('/console/branding', { kind: 'ok', text: 'Branding saved; sign-in pages show it now.' });
      },
    }),

    // The sign-in page as it would look, framed by the branding page (same origin only).
    consolePage({
      method: 'GET',
      path: '/branding/preview',
      needs: ['branding:view'],
      async handle(c) {
        const v = fromQuery(c.ctx.query, await current(c.access));
        c.ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'");
        c.ctx.set('X-Frame-Options', 'SAMEORIGIN');
        c.ctx.type = 'html';
        c.ctx.body = loginPage({ branding: { displayName: v.display_name || 'Tessera', logoUrl: v.logo_url || null, accentColor: v.accent_color || null }, action: '#', csrf: '', clientName: 'Your application' });
      },
    }),
  ];
}
