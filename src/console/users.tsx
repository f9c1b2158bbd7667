import { AppError, notFound } from '../errors/index.ts';
import { CURSORS, decodeCursor, encodeCursor } from '../http/api/pagination.ts';
import { isoDate, uuid } from '../http/routes/api/schemas.ts';
import { BULK_MAX_USERS } from '../services/bulkRoles.ts';
import type { Services } from '../services/index.ts';
import { UserExplain, UserList, UserRoles, UserSessions, type ExplainPath, type RoleOption, type UserRowView } from '../views/console/users.tsx';
import { type ConsoleContext, consolePage, type ConsolePage, field, send } from './core.ts';

/** The admin API's UUID check, for path and form values. */
export const UUID = { test: (v: string) => uuid.safeParse(v).success };
const PAGE = 50;
/** The count shown above the list stops here; beyond it "all matching" is over the bulk limit anyway. */
const COUNT_CAP = BULK_MAX_USERS + 1;
/** Users a selection kept across pages may hold; more than that is what "all matching" is for. */
export const SELECTION_MAX = 10_000;

export const userView = (u: { id: string; email: string; displayName: string | null; status: string; createdAt: Date }): UserRowView => ({
  id: u.id,
  email: u.email,
  name: u.displayName,
  status: u.status,
  created_at: u.createdAt.toISOString(),
});

/** A path parameter that must be a user id: anything else is a plain 404, never a query. */
export function userIdParam(c: ConsoleContext): string {
  const id = c.ctx.params.id ?? '';
  if (!UUID.test(id)) throw notFound('user');
  return id;
}

const query = (c: ConsoleContext, name: string) => {
  const v = c.ctx.query[name];
  return typeof v === 'string' ? v.trim() : '';
};

export async function roleOptions(services: Services, c: ConsoleContext): Promise<RoleOption[]> {
  return services.roles.options(c.access);
}

/** An optional expiry, read with the admin API's own `isoDate` schema (calendar-checked, offset required). */
export function optionalDate(raw: string): Date | null {
  if (!raw) return null;
  const parsed = isoDate.safeParse(raw);
  if (!parsed.success) throw new AppError(422, 'invalid_expiry', 'the expiry must be an ISO 8601 date and time with an offset, e.g. 2027-01-31T18:00:00Z');
  return parsed.data;
}

export function userPages(deps: { services: Services }): ConsolePage[] {
  const { services } = deps;

  const listUrl = (f: { q: string; status: string; role: string }, cursor?: string) => {
    const p = new URLSearchParams();
    if (f.q) p.set('q', f.q);
    if (f.status) p.set('status', f.status);
    if (f.role) p.set('role', f.role);
    if (cursor) p.set('cursor', cursor);
    const s = p.toString();
    return `/console/users${s ? `?${s}` : ''}`;
  };
  const filterOf = (f: { q: string; status: string; role: string }) => ({
    query: f.q || undefined,
    status: f.status === 'active' ? ('active' as const) : f.status === 'suspended' ? ('suspended' as const) : undefined,
    role: f.role || undefined,
  });

  async function loadUser(c: ConsoleContext): Promise<UserRowView> {
    return userView(await services.users.get(c.access, userIdParam(c)));
  }

  return [
    consolePage({
      method: 'GET',
      path: '/users',
      needs: ['users:view'],
      async handle(c) {
        const f = { q: query(c, 'q').slice(0, 200), status: query(c, 'status'), role: query(c, 'role').slice(0, 64) };
        const cursor = query(c, 'cursor') || undefined;
        const [rows, matching, roles] = await Promise.all([
          services.users.list(c.access, filterOf(f), decodeCursor(cursor, CURSORS.created), PAGE + 1),
          services.users.count(c.access, filterOf(f), COUNT_CAP),
          roleOptions(services, c),
        ]);
        const items = rows.slice(0, PAGE);
        const last = items[items.length - 1];
        const next = rows.length > PAGE && last ? listUrl(f, encodeCursor({ k: last.position, id: last.id })) : null;
        send(
          c.ctx,
          <UserList
            viewer={c.viewer}
            notice={c.notice}
            filter={f}
            users={items.map(userView)}
            matching={matching}
            countCap={COUNT_CAP}
            bulkMax={BULK_MAX_USERS}
            selection={new Set(c.session.selection ?? [])}
            roles={roles}
            next={next}
            here={listUrl(f, cursor)}
            first={cursor ? listUrl(f) : undefined}
          />,
        );
      },
    }),

    // The list's one form: keeps the page's ticks in the selection, then moves to another page, clears, or starts the bulk job.
    consolePage({
      method: 'POST',
      path: '/users/selection',
      needs: ['users:view', 'users:bulk', 'members:change_roles'],
      lists: ['selected', 'page_ids'],
      async handle(c) {
        const here = field(c.form.one, 'here');
        const back = here.startsWith('/console/users') ? here : '/console/users';
        const onPage = new Set((c.form.many.page_ids ?? []).filter((id) => UUID.test(id)));
        const ticked = new Set((c.form.many.selected ?? []).filter((id) => onPage.has(id)));
        const selection = new Set((c.session.selection ?? []).filter((id) => !onPage.has(id) || ticked.has(id)));
        for (const id of ticked) selection.add(id);
        if (selection.size > SELECTION_MAX) {
          return c.redirect(back, { kind: 'error', text: `A selection holds at most ${SELECTION_MAX.toLocaleString('en')} users; use “all users matching this search” for more.` });
        }
        const intent = field(c.form.one, 'intent');
        if (intent === 'clear') {
          c.session.selection = [];
          return c.redirect(back, { kind: 'ok', text: 'Selection cleared.' });
        }
        c.session.selection = [...selection];
        if (intent === 'apply') {
          const role = field(c.form.one, 'role');
          const action = field(c.form.one, 'action') === 'remove' ? 'remove' : 'add';
          let users: string[];
          if (field(c.form.one, 'all_matching') === '1') {
            const params = new URL(back, 'http://console').searchParams;
            const f = { q: params.get('q') ?? '', status: params.get('status') ?? '', role: params.get('role') ?? '' };
            users = await services.users.idsMatching(c.access, filterOf(f), BULK_MAX_USERS + 1);
            if (users.length > BULK_MAX_USERS) return c.redirect(back, { kind: 'error', text: `A bulk change takes at most ${BULK_MAX_USERS.toLocaleString('en')} users; narrow the search.` });
          } else {
            users = [...selection];
          }
          if (!users.length) return c.redirect(back, { kind: 'error', text: 'Select at least one user first.' });
          const job = await services.bulkRoles.submit(c.access, { role, action, users });
          c.session.selection = [];
          return c.redirect(`/console/jobs/${job.id}`, { kind: 'ok', text: `Bulk change started for ${users.length.toLocaleString('en')} users.` });
        }
        const go = field(c.form.one, 'go');
        await c.redirect(go.startsWith('/console/users') ? go : back, { kind: 'ok', text: `${selection.size.toLocaleString('en')} selected.` });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/users/:id',
      needs: ['users:view'],
      async handle(c) {
        const user = await loadUser(c);
        const [roles, options] = await Promise.all([services.users.roles(c.access, user.id), roleOptions(services, c)]);
        send(c.ctx, <UserRoles viewer={c.viewer} notice={c.notice} user={user} roles={roles} options={options} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/users/:id/roles',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = userIdParam(c);
        const slug = field(c.form.one, 'role');
        await services.roles.assign(c.access, slug, { type: 'user', id }, optionalDate(field(c.form.one, 'expires_at')));
        await c.redirect(`/console/users/${id}`, { kind: 'ok', text: `Role ${slug} added.` });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/users/:id/roles/:slug/remove',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = userIdParam(c);
        const slug = c.ctx.params.slug!;
        await services.roles.unassign(c.access, slug, { type: 'user', id });
        await c.redirect(`/console/users/${id}`, { kind: 'ok', text: `Role ${slug} removed.` });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/users/:id/explain',
      needs: ['users:view'],
      async handle(c) {
        const user = await loadUser(c);
        const [explained, roles] = await Promise.all([services.users.capabilities(c.access, user.id, true), roleOptions(services, c)]);
        const caps = explained.capabilities as Array<{ id: string; paths: ExplainPath[]; path_count: number }>;
        const chosen = query(c, 'capability') || caps[0]?.id || '';
        const entry = caps.find((x) => x.id === chosen);
        send(
          c.ctx,
          <UserExplain
            viewer={c.viewer}
            user={user}
            capabilities={caps.map((x) => x.id)}
            chosen={chosen}
            paths={entry?.paths ?? []}
            pathCount={entry?.path_count ?? 0}
            roleNames={new Map(roles.map((r) => [r.slug, r.name]))}
          />,
        );
      },
    }),

    consolePage({
      method: 'GET',
      path: '/users/:id/sessions',
      needs: ['users:view'],
      async handle(c) {
        const user = await loadUser(c);
        send(c.ctx, <UserSessions viewer={c.viewer} notice={c.notice} user={user} sessions={await services.sessions.list(c.access, user.id)} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/users/:id/sessions/revoke-all',
      needs: ['users:revoke_sessions'],
      async handle(c) {
        const id = userIdParam(c);
        if (field(c.form.one, 'confirm') !== 'yes') return c.redirect(`/console/users/${id}/sessions`, { kind: 'error', text: 'Tick the confirmation to revoke every session.' });
        await services.sessions.revokeAll(c.access, id);
        await c.redirect(`/console/users/${id}/sessions`, { kind: 'ok', text: 'Every session of this user was revoked; they must sign in again.' });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/users/:id/sessions/:sid/revoke',
      needs: ['users:revoke_sessions'],
      async handle(c) {
        const id = userIdParam(c);
        const sid = c.ctx.params.sid!;
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(sid)) throw notFound('session');
        await services.sessions.revoke(c.access, id, sid);
        await c.redirect(`/console/users/${id}/sessions`, { kind: 'ok', text: 'Session revoked.' });
      },
    }),
  ];
}

