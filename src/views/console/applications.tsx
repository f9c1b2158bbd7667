import { can, fmtDate, Layout, type Notice, Pager, PostForm, type Viewer } from './layout.tsx';

export interface ApplicationRowView {
  id: string;
  name: string;
  type: string;
  first_party: boolean;
  disabled: boolean;
  redirect_uris: string[];
  created_at: string;
  builtIn: boolean;
}

export function ApplicationList(props: { viewer: Viewer; notice?: Notice | undefined; apps: ApplicationRowView[]; next: string | null; first: string | undefined }) {
  const { viewer } = props;
  return (
    <Layout title="Applications" section="applications" viewer={viewer} notice={props.notice}>
      <table>
        <thead>
          <tr>
            <th scope="col">Application</th>
            <th scope="col">Type</th>
            <th scope="col">Redirect URIs</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {props.apps.map((a) => (
            <tr>
              <td>
                {a.name} {a.first_party ? <span class="badge">first party</span> : null} {a.builtIn ? <span class="badge">built-in</span> : null}
                <div class="muted">
                  <code>{a.id}</code> · created {fmtDate(a.created_at)}
                </div>
              </td>
              <td>{a.type}</td>
              <td>{a.redirect_uris.join(' ') || '—'}</td>
              <td>{a.disabled ? 'Disabled' : 'Enabled'}</td>
              <td>
                <div class="actions">
                  {can(viewer, 'applications:rotate_secret') && (a.type === 'web' || a.type === 'service') ? (
                    <PostForm viewer={viewer} action={`/console/applications/${encodeURIComponent(a.id)}/rotate`} class="inline" confirm="Rotate the secret? The old one stops working at once.">
                      <button type="submit" class="secondary" aria-label={`Rotate secret of ${a.name}`}>
                        Rotate secret
                      </button>
                    </PostForm>
                  ) : null}
                  {can(viewer, 'applications:disable') && !a.builtIn ? (
                    <PostForm viewer={viewer} action={`/console/applications/${encodeURIComponent(a.id)}/${a.disabled ? 'enable' : 'disable'}`} class="inline">
                      <button type="submit" class="secondary" aria-label={`${a.disabled ? 'Enable' : 'Disable'} ${a.name}`}>
                        {a.disabled ? 'Enable' : 'Disable'}
                      </button>
                    </PostForm>
                  ) : null}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager next={props.next} first={props.first} label="Applications pages" />
      {can(viewer, 'applications:create') ? (
        <PostForm viewer={viewer} action="/console/applications">
          <h2>New application</h2>
          <label for="app-name">Name</label>
          <input id="app-name" type="text" name="name" required maxlength={100} />
          <label for="app-type">Type</label>
          <select id="app-type" name="type">
            <option value="web">Web application (server side, with a secret)</option>
            <option value="spa">Single-page application (browser, PKCE, no secret)</option>
            <option value="native">Native application (PKCE, no secret)</option>
            <option value="service">Service (client credentials, no users)</option>
          </select>
          <label for="app-redirects">Redirect URIs (one per line)</label>
          <textarea id="app-redirects" name="redirect_uris" rows={2} />
          <label for="app-logout">Post-logout redirect URIs (one per line)</label>
          <textarea id="app-logout" name="post_logout_redirect_uris" rows={2} />
          <p>
            <input type="checkbox" id="app-first" name="first_party" value="1" />{' '}
            <label class="check" for="app-first">
              First party (skips the consent page; can reach only what you hold)
            </label>
          </p>
          <button type="submit">Create application</button>
        </PostForm>
      ) : null}
    </Layout>
  );
}

/** The one time a client secret is shown. */
export function SecretOnce(props: { viewer: Viewer; title: string; app: { id: string; name: string }; secret: string }) {
  return (
    <Layout title={props.title} section="applications" viewer={props.viewer}>
      <p>
        <strong>{props.app.name}</strong> (<code>{props.app.id}</code>)
      </p>
      <p>Copy the client secret now. It is stored only as a hash and is not shown again; if it is lost, rotate it.</p>
      <p class="secret" data-secret>
        {props.secret}
      </p>
      <p>
        <a href="/console/applications">Back to applications</a>
      </p>
    </Layout>
  );
}
