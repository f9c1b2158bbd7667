import { can, fmtDate, Layout, type Notice, Pager, PostForm, type Viewer } from './layout.tsx';

export interface AuditEventView {
  id: string;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string } | null;
  data: string;
}

export type AuditFilterValues = Record<'action' | 'actor_type' | 'actor_id' | 'target_type' | 'target_id' | 'since' | 'until', string>;

export function AuditLog(props: { viewer: Viewer; notice?: Notice | undefined; filter: AuditFilterValues; events: AuditEventView[]; next: string | null; first: string | undefined; query: string }) {
  const { viewer, filter } = props;
  const text = (name: keyof AuditFilterValues, label: string, hint?: string) => (
    <div>
      <label for={`f-${name}`}>{label}</label>
      <input id={`f-${name}`} type="text" name={name} value={filter[name]} placeholder={hint} />
    </div>
  );
  return (
    <Layout title="Audit log" section="audit" viewer={viewer} notice={props.notice}>
      <form method="get" action="/console/audit" class="toolbar" role="search">
        {text('action', 'Action', 'role.* or user.created')}
        <div>
          <label for="f-actor_type">Actor type</label>
          <select id="f-actor_type" name="actor_type">
            {['', 'user', 'client', 'system'].map((v) => (
              <option value={v} selected={filter.actor_type === v}>
                {v || 'Any'}
              </option>
            ))}
          </select>
        </div>
        {text('actor_id', 'Actor id')}
        {text('target_type', 'Target type', 'user, role, group…')}
        {text('target_id', 'Target id')}
        {text('since', 'Since', '2026-01-01')}
        {text('until', 'Until', '2026-12-31T23:59:59Z')}
        <button type="submit">Filter</button>
      </form>
      {props.events.length ? (
        <table>
          <caption class="muted">Newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {props.events.map((e) => (
              <tr>
                <td>{fmtDate(e.at)}</td>
                <td>
                  {e.actor.type}
                  {e.actor.id ? <div class="muted">{e.actor.id}</div> : null}
                </td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.target ? `${e.target.type} ${e.target.id}` : '—'}</td>
                <td>
                  <code class="data">{e.data}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No events match.</p>
      )}
      <Pager next={props.next} first={props.first} label="Audit log pages" />
      {can(viewer, 'audit:export') ? (
        <PostForm viewer={viewer} action="/console/audit/exports" class="toolbar">
          <input type="hidden" name="query" value={props.query} />
          <div>
            <label for="export-format">Export these events as</label>
            <select id="export-format" name="format">
              <option value="ndjson">NDJSON</option>
              <option value="csv">CSV</option>
            </select>
          </div>
          <button type="submit">Start export</button>
        </PostForm>
      ) : null}
    </Layout>
  );
}
