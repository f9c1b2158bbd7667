import type { Capability } from '../../catalogue/index.ts';
import { can, Csrf, fmtDate, Layout, type Notice, Pager, PostForm, Tabs, type Viewer } from './layout.tsx';

export interface RoleRowView {
  slug: string;
  name: string;
  description: string | null;
  type: 'system' | 'custom';
  capabilities: string[];
  capability_count: number;
  assigned: { users: number; groups: number };
}

export function RoleList(props: { viewer: Viewer; notice?: Notice | undefined; roles: RoleRowView[]; builtIn: boolean; total: number; next: string | null; first: string | undefined }) {
  const { viewer } = props;
  const change = can(viewer, 'members:change_roles');
  return (
    <Layout title="Roles & scopes" section="roles" viewer={viewer} notice={props.notice}>
      <div class="toolbar">
        <form method="get" action="/console/roles">
          <input type="checkbox" id="builtin" name="builtin" value="1" checked={props.builtIn} />{' '}
          <label class="check" for="builtin">
            Show built-in
          </label>{' '}
          <button type="submit" class="secondary">
            Apply
          </button>
        </form>
        {change ? (
          <a class="button" href="/console/roles/new">
            New role
          </a>
        ) : null}
      </div>
      {props.roles.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Role</th>
              <th scope="col">Type</th>
              <th scope="col">Permissions</th>
              <th scope="col">Users</th>
              <th scope="col">Groups</th>
              {change ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {props.roles.map((r) => {
              const assigned = r.assigned.users + r.assigned.groups > 0;
              return (
                <tr>
                  <td>
                    <a href={`/console/roles/${r.slug}`}>{r.name}</a>
                    <div class="muted">
                      <code>{r.slug}</code>
                    </div>
                  </td>
                  <td>
                    <span class="badge">{r.type === 'system' ? 'Built-in' : 'Custom'}</span>
                  </td>
                  <td>{r.capability_count}</td>
                  <td>{r.assigned.users}</td>
                  <td>{r.assigned.groups}</td>
                  {change ? (
                    <td>
                      {r.type === 'custom' ? (
                        <div class="actions">
                          <a class="button secondary" href={`/console/roles/${r.slug}/edit`}>
                            Edit
                          </a>
                          {assigned ? (
                            <>
                              <button type="button" disabled aria-describedby={`why-${r.slug}`}>
                                Delete
                              </button>
                              <span id={`why-${r.slug}`} class="hint">
                                Assigned to {r.assigned.users} users and {r.assigned.groups} groups. <a href={`/console/roles/${r.slug}/delete`}>Unassign or reassign, then delete</a>
                              </span>
                            </>
                          ) : (
                            <a class="button secondary" href={`/console/roles/${r.slug}/delete`}>
                              Delete
                            </a>
                          )}
                        </div>
                      ) : (
                        <span class="muted">Built-in roles can’t be changed</span>
                      )}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <p class="muted">No custom roles yet. {change ? <a href="/console/roles/new">Create one</a> : null}</p>
      )}
      <Pager next={props.next} first={props.first} label="Roles pages" />
      <p class="muted">{props.total} roles.</p>
    </Layout>
  );
}

const STATUS_LABEL = { available: 'available now', in_flight: 'wired in flight' } as const;

export interface EditorValues {
  name: string;
  description: string;
  slug: string;
  capabilities: ReadonlySet<string>;
  users: string;
  groups: ReadonlySet<string>;
}

export interface EditorErrors {
  name?: string | undefined;
  slug?: string | undefined;
  description?: string | undefined;
  capabilities?: string | undefined;
  users?: string | undefined;
  form?: string | undefined;
}

/**
 * The custom-role editor (seed 000): Identity, Capabilities grouped by area
 * with a master checkbox each and the status marker, Assignment (new roles).
 * A capability that a chosen one requires is shown checked with
 * "(required)", and the server stores the closure whatever arrives.
 */
export function RoleEditor(props: {
  viewer: Viewer;
  mode: 'new' | 'edit';
  action: string;
  values: EditorValues;
  errors: EditorErrors;
  areas: Array<{ area: string; items: Capability[] }>;
  groups: Array<{ id: string; name: string }>;
  limits: { name: number; description: number };
}) {
  const { values, errors } = props;
  const required = new Set<string>();
  for (const area of props.areas) for (const cap of area.items) if (values.capabilities.has(cap.id)) for (const r of cap.requires) required.add(r);
  return (
    <Layout title={props.mode === 'new' ? 'New role' : `Edit ${values.name}`} section="roles" viewer={props.viewer} notice={errors.form ? { kind: 'error', text: errors.form } : undefined}>
      <form method="post" action={props.action} data-role-editor novalidate>
        <Csrf viewer={props.viewer} />
        <fieldset>
          <legend>Identity</legend>
          <label for="name">Name</label>
          <input id="name" type="text" name="name" value={values.name} maxlength={props.limits.name} required aria-invalid={errors.name ? 'true' : undefined} aria-describedby={errors.name ? 'name-error' : 'name-hint'} />
          {errors.name ? (
            <p id="name-error" class="field-error" role="alert">
              {errors.name}
            </p>
          ) : (
            <p id="name-hint" class="hint">
              Up to {props.limits.name} characters; unique in the tenant, ignoring case.
            </p>
          )}
          <label for="description">Description</label>
          <textarea id="description" name="description" maxlength={props.limits.description} rows={2} aria-describedby="description-hint">
            {values.description}
          </textarea>
          <p id="description-hint" class="hint">
            Optional, up to {props.limits.description} characters.
          </p>
          {errors.description ? <p class="field-error">{errors.description}</p> : null}
          <label for="slug">Slug</label>
          <input id="slug" type="text" name="slug" value={values.slug} readonly={props.mode === 'edit'} maxlength={64} aria-describedby="slug-hint" />
          <p id="slug-hint" class="hint">
            {props.mode === 'new' ? 'Generated from the name; you can change it until the role is saved. Tokens carry capabilities, not slugs.' : 'Fixed once the role is saved.'}
          </p>
          {errors.slug ? <p class="field-error">{errors.slug}</p> : null}
        </fieldset>
        <fieldset>
          <legend>Capabilities</legend>
          {errors.capabilities ? (
            <p class="field-error" role="alert">
              {errors.capabilities}
            </p>
          ) : null}
          <p class="hint">Choosing a capability also chooses the ones it requires, marked “(required)”.</p>
          {props.areas.map(({ area, items }) => (
            <fieldset>
              <legend>
                <input type="checkbox" id={`area-${area}`} data-area-master={area} checked={items.every((i) => values.capabilities.has(i.id))} />{' '}
                <label class="check" for={`area-${area}`}>
                  {area}
                </label>
              </legend>
              {items.map((cap) => (
                <div class="cap">
                  <input
                    type="checkbox"
                    id={`cap-${cap.id}`}
                    name="capabilities"
                    value={cap.id}
                    data-area={area}
                    data-requires={cap.requires.join(' ')}
                    checked={values.capabilities.has(cap.id) || required.has(cap.id)}
                    aria-describedby={`desc-${cap.id}`}
                  />{' '}
                  <label class="check" for={`cap-${cap.id}`}>
                    {cap.name} <code>{cap.id}</code>
                  </label>{' '}
                  <span class={cap.status === 'in_flight' ? 'badge flight' : 'badge'}>{STATUS_LABEL[cap.status]}</span>{' '}
                  <span class="required-note" data-required-for={cap.id} hidden={!required.has(cap.id)}>
                    (required)
                  </span>
                  <span class="desc" id={`desc-${cap.id}`}>
                    {cap.description}
                  </span>
                </div>
              ))}
            </fieldset>
          ))}
        </fieldset>
        {props.mode === 'new' ? (
          <fieldset>
            <legend>Assignment</legend>
            <p class="hint">Optional: who gets the role as soon as it is saved.</p>
            <label for="users">Users (emails, one per line)</label>
            <textarea id="users" name="users" rows={3}>
              {values.users}
            </textarea>
            {errors.users ? <p class="field-error">{errors.users}</p> : null}
            <label for="groups">Groups</label>
            <select id="groups" name="groups" multiple size={Math.min(8, Math.max(3, props.groups.length))}>
              {props.groups.map((g) => (
                <option value={g.id} selected={values.groups.has(g.id)}>
                  {g.name}
                </option>
              ))}
            </select>
          </fieldset>
        ) : null}
        <div class="actions">
          <button type="submit" data-save>
            {props.mode === 'new' ? 'Save role' : 'Save changes'}
          </button>
          <a class="button secondary" href="/console/roles">
            Cancel
          </a>
        </div>
      </form>
    </Layout>
  );
}

export interface AssignmentsView {
  users: Array<{ id: string; email: string; display_name: string | null; assigned_at: string; expires_at: string | null }>;
  groups: Array<{ id: string; name: string; assigned_at: string; expires_at: string | null }>;
}

export function RoleDetail(props: { viewer: Viewer; notice?: Notice | undefined; role: RoleRowView; assignments: AssignmentsView; shown: number; groups: Array<{ id: string; name: string }>; capabilityNames: ReadonlyMap<string, string> }) {
  const { viewer, role, assignments } = props;
  const change = can(viewer, 'members:change_roles');
  return (
    <Layout title={role.name} section="roles" viewer={viewer} notice={props.notice}>
      <p>
        <span class="badge">{role.type === 'system' ? 'Built-in' : 'Custom'}</span> <code>{role.slug}</code> {role.description ? `· ${role.description}` : ''}
      </p>
      <Tabs label="Role" tabs={[{ href: `/console/roles/${role.slug}`, label: 'Assignments', current: true }]} />
      <h2>Users ({role.assigned.users})</h2>
      {assignments.users.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Assigned</th>
              <th scope="col">Expires</th>
              {change ? <th scope="col">Action</th> : null}
            </tr>
          </thead>
          <tbody>
            {assignments.users.map((u) => (
              <tr>
                <td>
                  <a href={`/console/users/${u.id}`}>{u.display_name ?? u.email}</a> <span class="muted">{u.email}</span>
                </td>
                <td>{fmtDate(u.assigned_at)}</td>
                <td>{fmtDate(u.expires_at)}</td>
                {change ? (
                  <td>
                    <PostForm viewer={viewer} action={`/console/roles/${role.slug}/assignments/remove`} class="inline">
                      <input type="hidden" name="user" value={u.id} />
                      <button type="submit" class="secondary" aria-label={`Remove ${role.name} from ${u.email}`}>
                        Remove
                      </button>
                    </PostForm>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">Not assigned to any user directly.</p>
      )}
      {role.assigned.users > props.shown ? (
        <p class="muted">
          The first {props.shown} are shown. <a href={`/console/users?role=${role.slug}`}>Everyone who holds the role</a>, through groups too, is in the users list.
        </p>
      ) : null}
      <h2>Groups ({role.assigned.groups})</h2>
      {assignments.groups.length ? (
        <ul class="chips">
          {assignments.groups.map((g) => (
            <li class="chip">
              <a href={`/console/groups/${g.id}`}>{g.name}</a>
              {change ? (
                <PostForm viewer={viewer} action={`/console/roles/${role.slug}/assignments/remove`} class="inline">
                  <input type="hidden" name="group" value={g.id} />
                  <button type="submit" class="chip-x" aria-label={`Remove ${role.name} from the group ${g.name}`}>
                    ×
                  </button>
                </PostForm>
              ) : null}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">Not assigned to any group.</p>
      )}
      {change ? (
        <PostForm viewer={viewer} action={`/console/roles/${role.slug}/assignments`}>
          <h2>Assign</h2>
          <div class="toolbar">
            <div>
              <label for="assign-user">User email</label>
              <input id="assign-user" type="email" name="email" />
            </div>
            <div>
              <label for="assign-group">or group</label>
              <select id="assign-group" name="group">
                <option value="">—</option>
                {props.groups.map((g) => (
                  <option value={g.id}>{g.name}</option>
                ))}
              </select>
            </div>
            <button type="submit">Assign</button>
          </div>
        </PostForm>
      ) : null}
      <h2>Capabilities ({role.capability_count})</h2>
      <ul>
        {role.capabilities.map((c) => (
          <li>
            {props.capabilityNames.get(c) ?? c} <code>{c}</code>
          </li>
        ))}
      </ul>
    </Layout>
  );
}

export function RoleDelete(props: { viewer: Viewer; role: RoleRowView; assignments: AssignmentsView; shown: number; others: Array<{ slug: string; name: string }> }) {
  const { viewer, role, assignments } = props;
  const assigned = role.assigned.users + role.assigned.groups > 0;
  return (
    <Layout title={`Delete ${role.name}`} section="roles" viewer={viewer}>
      <p>
        Deleting a role retires its slug <code>{role.slug}</code> for good: no new role can take it.
      </p>
      {assigned ? (
        <>
          <p>
            It is assigned to {role.assigned.users} users and {role.assigned.groups} groups, so it can’t simply be deleted. Choose what happens to them; the audit event records who had it.
          </p>
          <h2>Assigned now</h2>
          <ul>
            {assignments.users.map((u) => (
              <li>{u.email}</li>
            ))}
            {assignments.groups.map((g) => (
              <li>group {g.name}</li>
            ))}
          </ul>
          {role.assigned.users > props.shown ? <p class="muted">…and {role.assigned.users - props.shown} more users.</p> : null}
        </>
      ) : (
        <p>It is not assigned to anyone.</p>
      )}
      <PostForm viewer={viewer} action={`/console/roles/${role.slug}/delete`}>
        {assigned ? (
          <fieldset>
            <legend>What happens to its holders</legend>
            <p>
              <input type="radio" id="strategy-unassign" name="strategy" value="unassign" checked />{' '}
              <label class="check" for="strategy-unassign">
                Unassign it from everyone
              </label>
            </p>
            <p>
              <input type="radio" id="strategy-reassign" name="strategy" value="reassign" />{' '}
              <label class="check" for="strategy-reassign">
                Reassign them to another role
              </label>
            </p>
            <label for="reassign-to">Role to reassign to</label>
            <select id="reassign-to" name="reassign_to">
              {props.others.map((o) => (
                <option value={o.slug}>{o.name}</option>
              ))}
            </select>
          </fieldset>
        ) : null}
        <div class="actions">
          <button type="submit" class="danger">
            Delete role
          </button>
          <a class="button secondary" href="/console/roles">
            Cancel
          </a>
        </div>
      </PostForm>
    </Layout>
  );
}

export function SystemRoleMatrix(props: { viewer: Viewer; roles: Array<{ slug: string; name: string; description: string; capabilities: ReadonlySet<string> }>; areas: Array<{ area: string; items: Capability[] }> }) {
  return (
    <Layout title="System roles" section="system-roles" viewer={props.viewer}>
      <p>The four built-in roles every tenant has. They can’t be edited or deleted.</p>
      <ul>
        {props.roles.map((r) => (
          <li>
            <strong>{r.name}</strong>: {r.description}
          </li>
        ))}
      </ul>
      <table class="matrix">
        <caption class="muted">Capabilities of each system role</caption>
        <thead>
          <tr>
            <th scope="col">Capability</th>
            {props.roles.map((r) => (
              <th scope="col">{r.name}</th>
            ))}
          </tr>
        </thead>
        {props.areas.map(({ area, items }) => (
          <tbody>
            <tr>
              <th scope="rowgroup" colSpan={props.roles.length + 1}>
                {area}
              </th>
            </tr>
            {items.map((cap) => (
              <tr>
                <th scope="row">
                  {cap.name} <code>{cap.id}</code>
                  {cap.reserved ? <span class="badge"> Owner only</span> : null}
                </th>
                {props.roles.map((r) =>
                  r.capabilities.has(cap.id) ? (
                    <td class="yes">
                      <span aria-hidden="true">✓</span>
                      <span class="sr-only">yes</span>
                    </td>
                  ) : (
                    <td>
                      <span aria-hidden="true">—</span>
                      <span class="sr-only">no</span>
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        ))}
      </table>
    </Layout>
  );
}
