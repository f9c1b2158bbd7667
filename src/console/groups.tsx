import { notFound } from '../errors/index.ts';
import { CURSORS, decodeCursor, encodeCursor } from '../http/api/pagination.ts';
import type { Services } from '../services/index.ts';
import { GroupList, GroupMembers, GroupRoles, GroupSubgroups } from '../views/console/groups.tsx';
import { type ConsoleContext, consolePage, type ConsolePage, field, send } from './core.ts';
import { roleOptions, UUID } from './users.tsx';

const PAGE = 50;
const CHOICES = 500;

const groupIdParam = (c: ConsoleContext) => {
  const id = c.ctx.params.id ?? '';
  if (!UUID.test(id)) throw notFound('group');
  return id;
};

export function groupPages(deps: { services: Services }): ConsolePage[] {
  const { services } = deps;
  const { groups } = services;
  const here = (id: string, tab = '') => `/console/groups/${id}${tab}`;

  return [
    consolePage({
      method: 'GET',
      path: '/groups',
      needs: ['users:view'],
      async handle(c) {
        const q = typeof c.ctx.query.q === 'string' ? c.ctx.query.q.trim().slice(0, 100) : '';
        const cursor = typeof c.ctx.query.cursor === 'string' ? c.ctx.query.cursor : undefined;
        const after = decodeCursor(cursor, CURSORS.named);
        const rows = await groups.list(c.access, { limit: PAGE, query: q || undefined, after: after && { name: after.k, id: after.id } });
        const items = rows.slice(0, PAGE);
        const last = items[items.length - 1];
        const url = (cur?: string) => `/console/groups?${new URLSearchParams({ ...(q ? { q } : {}), ...(cur ? { cursor: cur } : {}) })}`;
        send(
          c.ctx,
          <GroupList viewer={c.viewer} notice={c.notice} q={q} groups={items} next={rows.length > PAGE && last ? url(encodeCursor({ k: last.name, id: last.id })) : null} first={cursor ? url() : undefined} />,
        );
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups',
      needs: ['members:change_roles'],
      async handle(c) {
        const description = field(c.form.one, 'description');
        const group = await groups.createGroup(c.access, { name: field(c.form.one, 'name'), description: description || null });
        await c.redirect(here(group.id), { kind: 'ok', text: `Group ${group.name} created.` });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/groups/:id',
      needs: ['users:view'],
      async handle(c) {
        const id = groupIdParam(c);
        const cursor = typeof c.ctx.query.cursor === 'string' ? c.ctx.query.cursor : undefined;
        const after = decodeCursor(cursor, CURSORS.named);
        const [group, rows] = await Promise.all([groups.get(c.access, id), groups.members(c.access, id, { limit: PAGE, after: after && { email: after.k, id: after.id } })]);
        const items = rows.slice(0, PAGE);
        const last = items[items.length - 1];
        send(
          c.ctx,
          <GroupMembers
            viewer={c.viewer}
            notice={c.notice}
            group={group}
            members={items}
            next={rows.length > PAGE && last ? `${here(id)}?cursor=${encodeCursor({ k: last.email, id: last.id })}` : null}
            first={cursor ? here(id) : undefined}
          />,
        );
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/members',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        const email = field(c.form.one, 'email');
        const user = email ? await services.users.findByEmail(c.access, email) : undefined;
        if (!user) return c.redirect(here(id), { kind: 'error', text: `No user has the email ${email}.` });
        await groups.addMembers(c.access, id, [user.id]);
        await c.redirect(here(id), { kind: 'ok', text: `${user.email} added.` });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/members/remove',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        const user = field(c.form.one, 'user');
        if (!UUID.test(user)) throw notFound('user');
        await groups.removeMembers(c.access, id, [user]);
        await c.redirect(here(id), { kind: 'ok', text: 'Member removed.' });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/groups/:id/subgroups',
      needs: ['users:view'],
      async handle(c) {
        const id = groupIdParam(c);
        const [group, subgroups, choices] = await Promise.all([groups.get(c.access, id), groups.subgroups(c.access, id), groups.list(c.access, { limit: CHOICES })]);
        send(c.ctx, <GroupSubgroups viewer={c.viewer} notice={c.notice} group={group} subgroups={subgroups} choices={choices.slice(0, CHOICES)} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/subgroups',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        const child = field(c.form.one, 'group');
        if (!UUID.test(child)) throw notFound('group');
        await groups.addSubgroups(c.access, id, [child]);
        await c.redirect(here(id, '/subgroups'), { kind: 'ok', text: 'Subgroup added.' });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/subgroups/remove',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        const child = field(c.form.one, 'group');
        if (!UUID.test(child)) throw notFound('group');
        await groups.removeSubgroups(c.access, id, [child]);
        await c.redirect(here(id, '/subgroups'), { kind: 'ok', text: 'Subgroup removed.' });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/groups/:id/roles',
      needs: ['users:view'],
      async handle(c) {
        const id = groupIdParam(c);
        const [group, roles, options] = await Promise.all([groups.get(c.access, id), groups.roles(c.access, id), roleOptions(services, c)]);
        send(c.ctx, <GroupRoles viewer={c.viewer} notice={c.notice} group={group} roles={roles} options={options} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/roles',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        const slug = field(c.form.one, 'role');
        await groups.assignRole(c.access, id, slug, null);
        await c.redirect(here(id, '/roles'), { kind: 'ok', text: `Role ${slug} assigned to the group.` });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/groups/:id/roles/:slug/remove',
      needs: ['members:change_roles'],
      async handle(c) {
        const id = groupIdParam(c);
        await groups.unassignRole(c.access, id, c.ctx.params.slug!);
        await c.redirect(here(id, '/roles'), { kind: 'ok', text: 'Role removed from the group.' });
      },
    }),
  ];
}
