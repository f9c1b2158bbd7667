import { can, Csrf, fmtDate, Layout, type Notice, Pager, PostForm, Tabs, type Viewer } from './layout.tsx';

export interface UserRowView {
  id: string;
  email: string;
  name: string | null;
  status: string;
  created_at: string;
}

export interface RoleOption {
  slug: string;
  name: string;
  type: 'system' | 'custom';
}

export function UserList(props: {
  viewer: Viewer;
  notice?: Notice | undefined;
  filter: { q: string; status: string; role: string };
  users: UserRowView[];
  matching: number;
  /** The count stopped here; more may match. */
  countCap: number;
  bulkMax: number;
  selection: ReadonlySet<string>;
  roles: RoleOption[];
  next: string | null;
  here: string;
  first: string | undefined;
}) {
  const { viewer, filter } = props;
  const bulk = can(viewer, 'users:bulk', 'members:change_roles');
  const matchingText = props.matching >= props.countCap ? `more than ${(props.countCap - 1).toLocaleString('en')}` : props.matching.toLocaleString('en');
  return (
    <Layout title="Users" section="users" viewer={viewer} notice={props.notice}>
      <form method="get" action="/console/users" class="toolbar" role="search">
        <div>
          <label for="q">Search</label>
          <input id="q" type="search" name="q" value={filter.q} placeholder="Email or name" />
        </div>
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            {[
              ['', 'Any'],
              ['active', 'Active'],
              ['suspended', 'Suspended'],
            ].map(([v, l]) => (
              <option value={v} selected={filter.status === v}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="role-filter">Holds role</label>
          <select id="role-filter" name="role">
            <option value="">Any</option>
            {props.roles.map((r) => (
              <option value={r.slug} selected={filter.role === r.slug}>
                {r.name}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Search</button>
      </form>
      <p>
        <strong>{matchingText}</strong> {props.matching === 1 ? 'user matches' : 'users match'}.
        {bulk ? ` ${props.selection.size.toLocaleString('en')} selected.` : ''}
      </p>
      <form method="post" action="/console/users/selection">
        <Csrf viewer={viewer} />
        <input type="hidden" name="here" value={props.here} />
        {props.users.map((u) => (
          <input type="hidden" name="page_ids" value={u.id} />
        ))}
        <table>
          <caption class="muted">Users in creation order</caption>
          <thead>
            <tr>
              {bulk ? (
                <th scope="col">
                  <input type="checkbox" data-select-page aria-label="Select every user on this page" />
                </th>
              ) : null}
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.users.map((u) => (
              <tr>
                {bulk ? (
                  <td>
                    <input type="checkbox" name="selected" value={u.id} checked={props.selection.has(u.id)} aria-label={`Select ${u.email}`} />
                  </td>
                ) : null}
                <td>
                  <a href={`/console/users/${u.id}`}>{u.name ?? u.email}</a>
                </td>
                <td>{u.email}</td>
                <td>{u.status}</td>
                <td>{fmtDate(u.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {bulk ? (
          <nav class="pager" aria-label="Users pages">
            {props.first ? (
              <button type="submit" class="secondary" name="go" value={props.first}>
                First page
              </button>
            ) : null}
            {props.next ? (
              <button type="submit" class="secondary" name="go" value={props.next}>
                Next page
              </button>
            ) : null}
          </nav>
        ) : (
          <Pager next={props.next} first={props.first} label="Users pages" />
        )}
        {bulk ? (
          <fieldset>
            <legend>Bulk role change</legend>
            <p class="hint">Your selection is kept while you move between pages. A bulk change runs as a job; you see its progress next.</p>
            <label for="bulk-role">Role</label>
            <select id="bulk-role" name="role">
              {props.roles.map((r) => (
                <option value={r.slug}>{r.name}</option>
              ))}
            </select>
            <label for="bulk-action">Change</label>
            <select id="bulk-action" name="action">
              <option value="add">Add the role</option>
              <option value="remove">Remove the role</option>
            </select>
            <p>
              <input type="checkbox" id="all-matching" name="all_matching" value="1" disabled={props.matching > props.bulkMax} />{' '}
              <label class="check" for="all-matching">
                Apply to all {matchingText} users matching this search instead of the selection
              </label>
            </p>
            <div class="actions">
              <button type="submit" name="intent" value="apply">
                Apply to selected users
              </button>
              <button type="submit" class="secondary" name="intent" value="clear">
                Clear selection
              </button>
            </div>
          </fieldset>
        ) : null}
      </form>
    </Layout>
  );
}

export interface UserRolesView {
  direct: Array<{ slug: string; name: string; type: string; expires_at: string | null }>;
  via_groups: Array<{ slug: string; name: string; group_path: Array<{ id: string; name: string }>; path_count: number; expires_at: string | null }>;
  capabilities: string[];
}

export interface SessionRow {
  id: string;
  clients: string[];
  created_at: string | null;
  last_active_at: string | null;
  expires_at: string | null;
  ip: string | null;
  user_agent: string | null;
}

export type ExplainPath =
  | { type: 'direct'; role: string }
  | { type: 'group'; groups: Array<{ id: string; name: string }>; role: string; chains: number }
  | { type: 'dependency'; of: string };

type Tab = 'roles' | 'sessions' | 'explain';

function UserHeader({ user }: { user: UserRowView }) {
  return (
    <p>
      <strong>{user.email}</strong> · {user.status} · created {fmtDate(user.created_at)}
    </p>
  );
}

function UserTabs({ id, tab }: { id: string; tab: Tab }) {
  return (
    <Tabs
      label="User"
      tabs={[
        { href: `/console/users/${id}`, label: 'Roles', current: tab === 'roles' },
        { href: `/console/users/${id}/explain`, label: 'Why does this user have…', current: tab === 'explain' },
        { href: `/console/users/${id}/sessions`, label: 'Sessions', current: tab === 'sessions' },
      ]}
    />
  );
}

export function UserRoles(props: { viewer: Viewer; notice?: Notice | undefined; user: UserRowView; roles: UserRolesView; options: RoleOption[] }) {
  const { viewer, user, roles } = props;
  const change = can(viewer, 'members:change_roles');
  const held = new Set(roles.direct.map((r) => r.slug));
  return (
    <Layout title={user.name ?? user.email} section="users" viewer={viewer} notice={props.notice}>
      <UserHeader user={user} />
      <UserTabs id={user.id} tab="roles" />
      <h2>Direct roles</h2>
      {roles.direct.length ? (
        <ul class="chips">
          {roles.direct.map((r) => (
            <li class="chip">
              {r.name}
              {r.expires_at ? <span class="via"> until {fmtDate(r.expires_at)}</span> : null}
              {change ? (
                <PostForm viewer={viewer} action={`/console/users/${user.id}/roles/${r.slug}/remove`} class="inline">
                  <button type="submit" class="chip-x" aria-label={`Remove ${r.name}`}>
                    ×
                  </button>
                </PostForm>
              ) : null}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No direct roles.</p>
      )}
      {change ? (
        <PostForm viewer={viewer} action={`/console/users/${user.id}/roles`} class="toolbar">
          <div>
            <label for="add-role">Add a role</label>
            <select id="add-role" name="role">
              {props.options
                .filter((o) => !held.has(o.slug))
                .map((o) => (
                  <option value={o.slug}>{o.name}</option>
                ))}
            </select>
          </div>
          <div>
            <label for="expires">Expires (optional)</label>
            <input id="expires" type="text" name="expires_at" placeholder="2027-01-31T18:00:00Z" />
          </div>
          <button type="submit">Add role</button>
        </PostForm>
      ) : null}
      <h2>Roles through groups</h2>
      {roles.via_groups.length ? (
        <ul class="chips">
          {roles.via_groups.map((r) => (
            <li class="chip">
              {r.name} <span class="via">via {r.group_path.map((g) => g.name).join(' › ')}</span>
              {r.path_count > 1 ? <span class="via"> ({r.path_count} paths)</span> : null}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">None.</p>
      )}
      <h2>Effective capabilities</h2>
      {roles.capabilities.length ? (
        <ul>
          {roles.capabilities.sort().map((c) => (
            <li>
              <code>{c}</code> · <a href={`/console/users/${user.id}/explain?capability=${encodeURIComponent(c)}`}>why?</a>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">None.</p>
      )}
    </Layout>
  );
}

export function UserExplain(props: { viewer: Viewer; user: UserRowView; capabilities: string[]; chosen: string; paths: ExplainPath[]; pathCount: number; roleNames: ReadonlyMap<string, string> }) {
  const { viewer, user } = props;
  const roleName = (slug: string) => props.roleNames.get(slug) ?? slug;
  return (
    <Layout title={user.name ?? user.email} section="users" viewer={viewer}>
      <UserHeader user={user} />
      <UserTabs id={user.id} tab="explain" />
      <form method="get" action={`/console/users/${user.id}/explain`} class="toolbar">
        <div>
          <label for="capability">Why does this user have</label>
          <select id="capability" name="capability">
            {props.capabilities.map((c) => (
              <option value={c} selected={c === props.chosen}>
                {c}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Explain</button>
      </form>
      {props.chosen ? (
        props.paths.length ? (
          <>
            <h2>
              <code>{props.chosen}</code> comes from
            </h2>
            <ul>
              {props.paths.map((p) =>
                p.type === 'direct' ? (
                  <li>the role {roleName(p.role)}, assigned directly</li>
                ) : p.type === 'group' ? (
                  <li>
                    the role {roleName(p.role)} through the groups {p.groups.map((g) => g.name).join(' › ')}
                    {p.chains > 1 ? ` (${p.chains} chains)` : ''}
                  </li>
                ) : (
                  <li>
                    being required by <code>{p.of}</code>
                  </li>
                ),
              )}
            </ul>
            {props.pathCount > props.paths.length ? <p class="muted">{props.pathCount} paths in all; the first {props.paths.length} are shown.</p> : null}
          </>
        ) : (
          <p>
            This user does not have <code>{props.chosen}</code>.
          </p>
        )
      ) : null}
    </Layout>
  );
}

export function UserSessions(props: { viewer: Viewer; notice?: Notice | undefined; user: UserRowView; sessions: SessionRow[] }) {
  const { viewer, user } = props;
  const revoke = can(viewer, 'users:revoke_sessions');
  return (
    <Layout title={user.name ?? user.email} section="users" viewer={viewer} notice={props.notice}>
      <UserHeader user={user} />
      <UserTabs id={user.id} tab="sessions" />
      {props.sessions.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Signed in</th>
              <th scope="col">Last active</th>
              <th scope="col">Expires</th>
              <th scope="col">IP address</th>
              <th scope="col">Browser</th>
              <th scope="col">Applications</th>
              {revoke ? <th scope="col">Action</th> : null}
            </tr>
          </thead>
          <tbody>
            {props.sessions.map((s) => (
              <tr>
                <td>{fmtDate(s.created_at)}</td>
                <td>{fmtDate(s.last_active_at)}</td>
                <td>{fmtDate(s.expires_at)}</td>
                <td>{s.ip ?? '—'}</td>
                <td>{s.user_agent ?? '—'}</td>
                <td>{s.clients.join(', ') || '—'}</td>
                {revoke ? (
                  <td>
                    <PostForm viewer={viewer} action={`/console/users/${user.id}/sessions/${encodeURIComponent(s.id)}/revoke`} class="inline">
                      <button type="submit" class="secondary">
                        Revoke
                      </button>
                    </PostForm>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No active sessions.</p>
      )}
      {revoke ? (
        <PostForm viewer={viewer} action={`/console/users/${user.id}/sessions/revoke-all`}>
          <h2>Revoke all sessions</h2>
          <p class="hint">Ends every session and refresh token of this user at once, on every Tessera process; resource servers following the revocation feed refuse their tokens too. They must sign in again.</p>
          <p>
            <input type="checkbox" id="confirm-revoke" name="confirm" value="yes" required />{' '}
            <label class="check" for="confirm-revoke">
              Yes, sign {user.email} out everywhere
            </label>
          </p>
          <button type="submit" class="danger">
            Revoke all sessions
          </button>
        </PostForm>
      ) : null}
    </Layout>
  );
}
