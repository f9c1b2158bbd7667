import type { ComponentChildren } from 'preact';
import { can, fmtDate, Layout, type Notice, Pager, PostForm, Tabs, type Viewer } from './layout.tsx';

export interface GroupRowView {
  id: string;
  name: string;
  description: string | null;
  member_count: number;
  subgroup_count: number;
  created_at: string;
}

export function GroupList(props: { viewer: Viewer; notice?: Notice | undefined; q: string; groups: GroupRowView[]; next: string | null; first: string | undefined }) {
  const { viewer } = props;
  return (
    <Layout title="Groups" section="groups" viewer={viewer} notice={props.notice}>
      <form method="get" action="/console/groups" class="toolbar" role="search">
        <div>
          <label for="q">Search</label>
          <input id="q" type="search" name="q" value={props.q} placeholder="Group name" />
        </div>
        <button type="submit">Search</button>
      </form>
      {props.groups.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Members</th>
              <th scope="col">Subgroups</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.groups.map((g) => (
              <tr>
                <td>
                  <a href={`/console/groups/${g.id}`}>{g.name}</a>
                  {g.description ? <div class="muted">{g.description}</div> : null}
                </td>
                <td>{g.member_count}</td>
                <td>{g.subgroup_count}</td>
                <td>{fmtDate(g.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No groups{props.q ? ' match' : ' yet'}.</p>
      )}
      <Pager next={props.next} first={props.first} label="Groups pages" />
      {can(viewer, 'members:change_roles') ? (
        <PostForm viewer={viewer} action="/console/groups">
          <h2>New group</h2>
          <label for="group-name">Name</label>
          <input id="group-name" type="text" name="name" required maxlength={100} />
          <label for="group-description">Description</label>
          <input id="group-description" type="text" name="description" maxlength={500} />
          <p>
            <button type="submit">Create group</button>
          </p>
        </PostForm>
      ) : null}
    </Layout>
  );
}

type GroupTab = 'members' | 'subgroups' | 'roles';

function GroupFrame(props: { viewer: Viewer; notice?: Notice | undefined; group: GroupRowView; tab: GroupTab; children: ComponentChildren }) {
  const { group } = props;
  return (
    <Layout title={group.name} section="groups" viewer={props.viewer} notice={props.notice}>
      {group.description ? <p>{group.description}</p> : null}
      <Tabs
        label="Group"
        tabs={[
          { href: `/console/groups/${group.id}`, label: `Members (${group.member_count})`, current: props.tab === 'members' },
          { href: `/console/groups/${group.id}/subgroups`, label: `Subgroups (${group.subgroup_count})`, current: props.tab === 'subgroups' },
          { href: `/console/groups/${group.id}/roles`, label: 'Roles', current: props.tab === 'roles' },
        ]}
      />
      {props.children}
    </Layout>
  );
}

export function GroupMembers(props: { viewer: Viewer; notice?: Notice | undefined; group: GroupRowView; members: Array<{ id: string; email: string; display_name: string | null; added_at: string }>; next: string | null; first: string | undefined }) {
  const { viewer, group } = props;
  const change = can(viewer, 'members:change_roles');
  return (
    <GroupFrame viewer={viewer} notice={props.notice} group={group} tab="members">
      {props.members.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Added</th>
              {change ? <th scope="col">Action</th> : null}
            </tr>
          </thead>
          <tbody>
            {props.members.map((m) => (
              <tr>
                <td>
                  <a href={`/console/users/${m.id}`}>{m.display_name ?? m.email}</a> <span class="muted">{m.email}</span>
                </td>
                <td>{fmtDate(m.added_at)}</td>
                {change ? (
                  <td>
                    <PostForm viewer={viewer} action={`/console/groups/${group.id}/members/remove`} class="inline">
                      <input type="hidden" name="user" value={m.id} />
                      <button type="submit" class="secondary" aria-label={`Remove ${m.email} from ${group.name}`}>
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
        <p class="muted">No direct members.</p>
      )}
      <Pager next={props.next} first={props.first} label="Members pages" />
      {change ? (
        <PostForm viewer={viewer} action={`/console/groups/${group.id}/members`} class="toolbar">
          <div>
            <label for="member-email">Add a member by email</label>
            <input id="member-email" type="email" name="email" required />
          </div>
          <button type="submit">Add member</button>
        </PostForm>
      ) : null}
    </GroupFrame>
  );
}

export function GroupSubgroups(props: { viewer: Viewer; notice?: Notice | undefined; group: GroupRowView; subgroups: GroupRowView[]; choices: Array<{ id: string; name: string }> }) {
  const { viewer, group } = props;
  const change = can(viewer, 'members:change_roles');
  return (
    <GroupFrame viewer={viewer} notice={props.notice} group={group} tab="subgroups">
      <p class="hint">Members of a subgroup get this group’s roles too.</p>
      {props.subgroups.length ? (
        <ul class="chips">
          {props.subgroups.map((s) => (
            <li class="chip">
              <a href={`/console/groups/${s.id}`}>{s.name}</a>
              {change ? (
                <PostForm viewer={viewer} action={`/console/groups/${group.id}/subgroups/remove`} class="inline">
                  <input type="hidden" name="group" value={s.id} />
                  <button type="submit" class="chip-x" aria-label={`Remove the subgroup ${s.name}`}>
                    ×
                  </button>
                </PostForm>
              ) : null}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No subgroups.</p>
      )}
      {change ? (
        <PostForm viewer={viewer} action={`/console/groups/${group.id}/subgroups`} class="toolbar">
          <div>
            <label for="subgroup">Add a subgroup</label>
            <select id="subgroup" name="group">
              {props.choices
                .filter((g) => g.id !== group.id)
                .map((g) => (
                  <option value={g.id}>{g.name}</option>
                ))}
            </select>
          </div>
          <button type="submit">Add subgroup</button>
        </PostForm>
      ) : null}
    </GroupFrame>
  );
}

export interface GroupRolesView {
  direct: Array<{ slug: string; name: string; expires_at: string | null }>;
  inherited: Array<{ slug: string; name: string; group: { id: string; name: string }; path: Array<{ id: string; name: string }> }>;
}

export function GroupRoles(props: { viewer: Viewer; notice?: Notice | undefined; group: GroupRowView; roles: GroupRolesView; options: Array<{ slug: string; name: string }> }) {
  const { viewer, group, roles } = props;
  const change = can(viewer, 'members:change_roles');
  const held = new Set(roles.direct.map((r) => r.slug));
  return (
    <GroupFrame viewer={viewer} notice={props.notice} group={group} tab="roles">
      <h2>Assigned to this group</h2>
      {roles.direct.length ? (
        <ul class="chips">
          {roles.direct.map((r) => (
            <li class="chip">
              {r.name}
              {r.expires_at ? <span class="via"> until {fmtDate(r.expires_at)}</span> : null}
              {change ? (
                <PostForm viewer={viewer} action={`/console/groups/${group.id}/roles/${r.slug}/remove`} class="inline">
                  <button type="submit" class="chip-x" aria-label={`Remove ${r.name} from ${group.name}`}>
                    ×
                  </button>
                </PostForm>
              ) : null}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No roles assigned here.</p>
      )}
      {roles.inherited.length ? (
        <>
          <h2>Inherited from parent groups</h2>
          <ul class="chips">
            {roles.inherited.map((r) => (
              <li class="chip">
                {r.name} <span class="via">from {r.path.map((g) => g.name).join(' › ')}</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {change ? (
        <PostForm viewer={viewer} action={`/console/groups/${group.id}/roles`} class="toolbar">
          <div>
            <label for="group-role">Assign a role</label>
            <select id="group-role" name="role">
              {props.options
                .filter((o) => !held.has(o.slug))
                .map((o) => (
                  <option value={o.slug}>{o.name}</option>
                ))}
            </select>
          </div>
          <button type="submit">Assign role</button>
        </PostForm>
      ) : null}
    </GroupFrame>
  );
}
