import { CAPABILITIES, CAPABILITY_BY_ID, groupByArea, SYSTEM_ROLES } from '../catalogue/index.ts';
import { AppError, notFound } from '../errors/index.ts';
import type { Services } from '../services/index.ts';
import { DESCRIPTION_MAX, NAME_MAX, SLUG_MAX, SLUG_PATTERN } from '../services/roles.ts';
import { RoleDelete, RoleDetail, RoleEditor, RoleList, SystemRoleMatrix, type EditorErrors, type EditorValues } from '../views/console/roles.tsx';
import { type ConsoleContext, consolePage, type ConsolePage, field, send } from './core.ts';
import { UUID } from './users.tsx';

/** The catalogue the editor offers: reserved (Owner-only) capabilities are absent (SPEC §4). */
const EDITOR_AREAS = groupByArea(CAPABILITIES.filter((c) => !c.reserved));
const ALL_AREAS = groupByArea(CAPABILITIES);
const SHOWN_ASSIGNMENTS = 200;
const ROLE_PAGE = 50;
/** Groups the editor and the assign form list (by name); a tenant with more finds the rest by search on the groups page. */
const GROUP_CHOICES = 500;

const slugParam = (c: ConsoleContext) => {
  const slug = c.ctx.params.slug ?? '';
  if (!SLUG_PATTERN.test(slug) || slug.length > SLUG_MAX) throw notFound('role');
  return slug;
};

/** Where an error the role service raises belongs in the editor. */
function placeError(err: AppError): EditorErrors {
  switch (err.code) {
    case 'role_name_taken':
      return { name: /looks like/.test(err.message) ? `Role name already exists: ${err.message}.` : 'Role name already exists.' };
    case 'invalid_name':
      return { name: err.message };
    case 'invalid_description':
      return { description: err.message };
    case 'invalid_slug':
    case 'slug_unavailable':
      return { slug: err.message };
    case 'capabilities_required':
    case 'unknown_capability':
    case 'capability_reserved':
      return { capabilities: err.message };
    default:
      return { form: err.message };
  }
}

export function rolePages(deps: { services: Services }): ConsolePage[] {
  const { services } = deps;
  const groupChoices = async (c: ConsoleContext) => (await services.groups.list(c.access, { limit: GROUP_CHOICES })).slice(0, GROUP_CHOICES).map((g) => ({ id: g.id, name: g.name }));

  const editor = async (c: ConsoleContext, mode: 'new' | 'edit', action: string, values: EditorValues, errors: EditorErrors, status = 200) =>
    send(
      c.ctx,
      <RoleEditor viewer={c.viewer} mode={mode} action={action} values={values} errors={errors} areas={EDITOR_AREAS} groups={mode === 'new' ? await groupChoices(c) : []} limits={{ name: NAME_MAX, description: DESCRIPTION_MAX }} />,
      status,
    );

  const valuesFrom = (c: ConsoleContext): EditorValues => ({
    name: field(c.form.one, 'name'),
    description: field(c.form.one, 'description'),
    slug: field(c.form.one, 'slug'),
    capabilities: new Set(c.form.many.capabilities ?? []),
    users: field(c.form.one, 'users'),
    groups: new Set((c.form.many.groups ?? []).filter((g) => UUID.test(g))),
  });

  return [
    consolePage({
      method: 'GET',
      path: '/roles',
      needs: ['users:view'],
      async handle(c) {
        const builtIn = c.ctx.query.builtin === '1';
        const pageNo = Math.max(1, Math.min(1_000, Number.parseInt(String(c.ctx.query.page ?? '1'), 10) || 1));
        const roles = await services.roles.list(c.access, builtIn ? 'all' : 'custom');
        const shown = roles.slice((pageNo - 1) * ROLE_PAGE, pageNo * ROLE_PAGE);
        const url = (n: number) => `/console/roles?${new URLSearchParams({ ...(builtIn ? { builtin: '1' } : {}), page: String(n) })}`;
        send(
          c.ctx,
          <RoleList viewer={c.viewer} notice={c.notice} roles={shown} builtIn={builtIn} total={roles.length} next={roles.length > pageNo * ROLE_PAGE ? url(pageNo + 1) : null} first={pageNo > 1 ? url(1) : undefined} />,
        );
      },
    }),

    consolePage({
      method: 'GET',
      path: '/roles/new',
      needs: ['members:change_roles'],
      async handle(c) {
        await editor(c, 'new', '/console/roles', { name: '', description: '', slug: '', capabilities: new Set(), users: '', groups: new Set() }, {});
      },
    }),

    consolePage({
      method: 'POST',
      path: '/roles',
      needs: ['members:change_roles'],
      lists: ['capabilities', 'groups'],
      async handle(c) {
        const values = valuesFrom(c);
        const errors: EditorErrors = {};
        if (!values.name) errors.name = 'Give the role a name.';
        if (!values.capabilities.size) errors.capabilities = 'Choose at least one capability.';
        const emails = values.users
          .split(/[\s,;]+/)
          .map((e) => e.trim())
          .filter(Boolean);
        const userIds: string[] = [];
        const unknown: string[] = [];
        for (const email of emails.slice(0, 1_000)) {
          const user = await services.users.findByEmail(c.access, email);
          if (user) userIds.push(user.id);
          else unknown.push(email);
        }
        if (unknown.length) errors.users = `No user has the email ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}.`;
        if (Object.keys(errors).length) return editor(c, 'new', '/console/roles', values, errors, 422);
        try {
          const role = await services.roles.create(c.access, {
            name: values.name,
            description: values.description || null,
            ...(values.slug ? { slug: values.slug } : {}),
            capabilities: [...values.capabilities],
            ...(userIds.length || values.groups.size ? { assign: { users: userIds, groups: [...values.groups] } } : {}),
          });
          await c.redirect(`/console/roles/${role.slug}`, { kind: 'ok', text: `Role ${role.name} created.` });
        } catch (err) {
          if (!(err instanceof AppError) || err.status >= 500 || err.status === 403) throw err;
          await editor(c, 'new', '/console/roles', values, placeError(err), err.status);
        }
      },
    }),

    consolePage({
      method: 'GET',
      path: '/roles/:slug',
      needs: ['users:view'],
      async handle(c) {
        const slug = slugParam(c);
        const [role, assignments, groups] = await Promise.all([services.roles.get(c.access, slug), services.roles.assignments(c.access, slug, SHOWN_ASSIGNMENTS), groupChoices(c)]);
        send(
          c.ctx,
          <RoleDetail
            viewer={c.viewer}
            notice={c.notice}
            role={role}
            assignments={assignments}
            shown={SHOWN_ASSIGNMENTS}
            groups={groups}
            capabilityNames={new Map(CAPABILITIES.map((x) => [x.id, x.name]))}
          />,
        );
      },
    }),

    consolePage({
      method: 'GET',
      path: '/roles/:slug/edit',
      needs: ['members:change_roles'],
      async handle(c) {
        const role = await services.roles.get(c.access, slugParam(c));
        if (role.type === 'system') throw new AppError(403, 'system_role_immutable', 'built-in roles can’t be edited');
        await editor(c, 'edit', `/console/roles/${role.slug}/edit`, { name: role.name, description: role.description ?? '', slug: role.slug, capabilities: new Set(role.capabilities), users: '', groups: new Set() }, {});
      },
    }),

    consolePage({
      method: 'POST',
      path: '/roles/:slug/edit',
      needs: ['members:change_roles'],
      lists: ['capabilities'],
      async handle(c) {
        const slug = slugParam(c);
        const values = { ...valuesFrom(c), slug };
        if (!values.name || !values.capabilities.size) {
          return editor(c, 'edit', `/console/roles/${slug}/edit`, values, { ...(values.name ? {} : { name: 'Give the role a name.' }), ...(values.capabilities.size ? {} : { capabilities: 'Choose at least one capability.' }) }, 422);
        }
        try {
          await services.roles.update(c.access, slug, { name: values.name, description: values.description || null, capabilities: [...values.capabilities] });
          await c.redirect(`/console/roles/${slug}`, { kind: 'ok', text: 'Role saved.' });
        } catch (err) {
          if (!(err instanceof AppError) || err.status >= 500 || err.status === 403) throw err;
          await editor(c, 'edit', `/console/roles/${slug}/edit`, values, placeError(err), err.status);
        }
      },
    }),

    consolePage({
      method: 'GET',
      path: '/roles/:slug/delete',
      needs: ['members:change_roles'],
      async handle(c) {
        const slug = slugParam(c);
        const [role, assignments, all] = await Promise.all([services.roles.get(c.access, slug), services.roles.assignments(c.access, slug, SHOWN_ASSIGNMENTS), services.roles.options(c.access)]);
        if (role.type === 'system') throw new AppError(403, 'system_role_immutable', 'built-in roles can’t be deleted');
        send(c.ctx, <RoleDelete viewer={c.viewer} role={role} assignments={assignments} shown={SHOWN_ASSIGNMENTS} others={all.filter((r) => r.slug !== slug)} />);
      },
    }),

    consolePage({
      method: 'POST',
      path: '/roles/:slug/delete',
      needs: ['members:change_roles'],
      async handle(c) {
        const slug = slugParam(c);
        const strategy = field(c.form.one, 'strategy');
        const reassignTo = field(c.form.one, 'reassign_to');
        const result = await services.roles.remove(c.access, slug, strategy === 'reassign' ? { reassignTo } : strategy === 'unassign' ? { strategy: 'unassign' } : {});
        const moved = result.reassigned_to ? `; its holders now have ${result.reassigned_to}` : '';
        await c.redirect('/console/roles', { kind: 'ok', text: `Role ${slug} deleted and its slug retired${moved}.` });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/roles/:slug/assignments',
      needs: ['members:change_roles'],
      async handle(c) {
        const slug = slugParam(c);
        const email = field(c.form.one, 'email');
        const group = field(c.form.one, 'group');
        if (email) {
          const user = await services.users.findByEmail(c.access, email);
          if (!user) return c.redirect(`/console/roles/${slug}`, { kind: 'error', text: `No user has the email ${email}.` });
          await services.roles.addAssignments(c.access, slug, { users: [user.id] });
        }
        if (group) {
          if (!UUID.test(group)) throw notFound('group');
          await services.roles.addAssignments(c.access, slug, { groups: [group] });
        }
        if (!email && !group) return c.redirect(`/console/roles/${slug}`, { kind: 'error', text: 'Give a user’s email or choose a group.' });
        await c.redirect(`/console/roles/${slug}`, { kind: 'ok', text: 'Assigned.' });
      },
    }),

    consolePage({
      method: 'POST',
      path: '/roles/:slug/assignments/remove',
      needs: ['members:change_roles'],
      async handle(c) {
        const slug = slugParam(c);
        const user = field(c.form.one, 'user');
        const group = field(c.form.one, 'group');
        if ((user && !UUID.test(user)) || (group && !UUID.test(group))) throw notFound('assignee');
        await services.roles.removeAssignments(c.access, slug, { ...(user ? { users: [user] } : {}), ...(group ? { groups: [group] } : {}) });
        await c.redirect(`/console/roles/${slug}`, { kind: 'ok', text: 'Removed.' });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/system-roles',
      needs: [],
      async handle(c) {
        send(
          c.ctx,
          <SystemRoleMatrix
            viewer={c.viewer}
            roles={SYSTEM_ROLES.map((r) => ({ slug: r.slug, name: r.name, description: r.description, capabilities: new Set(r.capabilities) }))}
            areas={ALL_AREAS.map((a) => ({ area: a.area, items: a.items.filter((x) => CAPABILITY_BY_ID.has(x.id)) }))}
          />,
        );
      },
    }),

  ];
}
