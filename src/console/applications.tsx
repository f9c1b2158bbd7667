import { AppError, notFound } from '../errors/index.ts';
import { CURSORS, decodeCursor, encodeCursor } from '../http/api/pagination.ts';
import { consoleClientId } from '../services/console.ts';
import type { Services } from '../services/index.ts';
import { ApplicationList, SecretOnce } from '../views/console/applications.tsx';
import { type ConsoleContext, consolePage, type ConsolePage, field, send } from './core.ts';

const PAGE = 50;
const TYPES = new Set(['web', 'spa', 'native', 'service'] as const);
type AppType = 'web' | 'spa' | 'native' | 'service';

const appIdParam = (c: ConsoleContext) => {
  const id = c.ctx.params.id ?? '';
  if (!/^[A-Za-z0-9._~-]{3,128}$/.test(id)) throw notFound('application');
  return id;
};
const lines = (s: string) =>
  s
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

export function applicationPages(deps: { services: Services }): ConsolePage[] {
  const { clients } = deps.services;
  return [
    consolePage({
      method: 'GET',
      path: '/applications',
      needs: ['applications:view'],
      async handle(c) {
        const cursor = typeof c.ctx.query.cursor === 'string' ? c.ctx.query.cursor : undefined;
        const after = decodeCursor(cursor, CURSORS.application);
        const { rows } = await clients.list(c.access, { limit: PAGE, after });
        const items = rows.slice(0, PAGE);
        const last = items[items.length - 1];
        const builtIn = consoleClientId(c.access.tenantId);
        send(
          c.ctx,
          <ApplicationList
            viewer={c.viewer}
            notice={c.notice}
            apps={items.map((a) => ({ id: a.id, name: a.name, type: a.type, first_party: a.firstParty, disabled: a.disabled, redirect_uris: a.redirectUris, created_at: a.createdAt.toISOString(), builtIn: a.id === builtIn }))}
            next={rows.length > PAGE && last ? `/console/applications?cursor=${encodeCursor({ k: last.sortKey, id: last.id })}` : null}
            first={cursor ? '/console/applications' : undefined}
          />,
        );
      },
    }),

    consolePage({
      method: 'POST',
      path: '/applications',
      needs: ['applications:create'],
      async handle(c) {
        const type = field(c.form.one, 'type') as AppType;
        if (!TYPES.has(type)) throw new AppError(422, 'validation_failed', 'choose an application type');
        const { client, secret } = await clients.create(c.access, {
          name: field(c.form.one, 'name'),
          type,
          firstParty: field(c.form.one, 'first_party') === '1',
          redirectUris: lines(field(c.form.one, 'redirect_uris')),
          postLogoutRedirectUris: lines(field(c.form.one, 'post_logout_redirect_uris')),
        });
        if (!secret) return c.redirect('/console/applications', { kind: 'ok', text: `Application ${client.name} created (${client.id}); it has no secret.` });
        send(c.ctx, <SecretOnce viewer={c.viewer} title="Application created" app={{ id: client.id, name: client.name }} secret={secret} />, 201);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/applications/:id/rotate',
      needs: ['applications:rotate_secret'],
      async handle(c) {
        const id = appIdParam(c);
        const secret = await clients.rotateSecret(c.access, id);
        const app = await clients.get(c.access, id);
        send(c.ctx, <SecretOnce viewer={c.viewer} title="Secret rotated" app={{ id, name: app.name }} secret={secret} />);
      },
    }),

    ...(['disable', 'enable'] as const).map((what) =>
      consolePage({
        method: 'POST',
        path: `/applications/:id/${what}`,
        needs: ['applications:disable'],
        async handle(c) {
          const id = appIdParam(c);
          const app = await clients.setDisabled(c.access, id, what === 'disable');
          await c.redirect('/console/applications', { kind: 'ok', text: `${app.name} ${what === 'disable' ? 'disabled: its tokens stop working' : 'enabled'}.` });
        },
      }),
    ),
  ];
}
