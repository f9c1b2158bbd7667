import type { ComponentChildren, VNode } from 'preact';

/** Who is signed in to the console, and what they may do (their token's capabilities they hold now). */
export interface Viewer {
  name: string;
  email: string;
  tenant: string;
  csrf: string;
  held: ReadonlySet<string>;
}

export type Section = 'users' | 'groups' | 'roles' | 'system-roles' | 'applications' | 'audit' | 'branding' | 'jobs';

const NAV: Array<{ section: Section; href: string; label: string; needs: string }> = [
  { section: 'users', href: '/console/users', label: 'Users', needs: 'users:view' },
  { section: 'groups', href: '/console/groups', label: 'Groups', needs: 'users:view' },
  { section: 'roles', href: '/console/roles', label: 'Roles & scopes', needs: 'users:view' },
  { section: 'system-roles', href: '/console/system-roles', label: 'System roles', needs: '' },
  { section: 'applications', href: '/console/applications', label: 'Applications', needs: 'applications:view' },
  { section: 'audit', href: '/console/audit', label: 'Audit log', needs: 'audit:read' },
  { section: 'branding', href: '/console/branding', label: 'Branding', needs: 'branding:view' },
];

export const can = (viewer: Viewer, ...caps: string[]) => caps.every((c) => viewer.held.has(c));

/** The hidden CSRF field every console form carries (CHECKLIST 41). */
export const Csrf = ({ viewer }: { viewer: Viewer }) => <input type="hidden" name="_csrf" value={viewer.csrf} />;

/** A form that posts with the CSRF token; `confirm` asks first (console.js), the server never relies on it. */
export function PostForm(props: { viewer: Viewer; action: string; children: ComponentChildren; confirm?: string; class?: string; id?: string }) {
  return (
    <form method="post" action={props.action} class={props.class} id={props.id} data-confirm={props.confirm}>
      <Csrf viewer={props.viewer} />
      {props.children}
    </form>
  );
}

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

function Head({ title }: { title: string }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width,initial-scale=1" />
      <title>{`${title} · Tessera console`}</title>
      <link rel="stylesheet" href="/console/assets/console.css" />
      <script src="/console/assets/console.js" defer />
    </head>
  );
}

export function Layout(props: { title: string; section?: Section; viewer: Viewer; notice?: Notice | undefined; children: ComponentChildren }): VNode {
  const { viewer } = props;
  return (
    <html lang="en">
      <Head title={props.title} />
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <span class="brand">Tessera console</span>
          <span class="tenant">{viewer.tenant}</span>
          <span class="me">
            {viewer.name} <span class="muted">({viewer.email})</span>
          </span>
          <PostForm viewer={viewer} action="/console/logout" class="inline">
            <button type="submit" class="secondary">
              Sign out
            </button>
          </PostForm>
        </header>
        <div class="frame">
          <nav aria-label="Console">
            <ul>
              {NAV.filter((n) => !n.needs || viewer.held.has(n.needs)).map((n) => (
                <li>
                  <a href={n.href} aria-current={n.section === props.section ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <main id="main">
            <h1>{props.title}</h1>
            {props.notice ? (
              <p class={`notice ${props.notice.kind}`} role={props.notice.kind === 'error' ? 'alert' : 'status'}>
                {props.notice.text}
              </p>
            ) : null}
            {props.children}
          </main>
        </div>
      </body>
    </html>
  );
}

/** A page outside the signed-in console (landing, tenant choice, errors). */
export function BarePage(props: { title: string; children: ComponentChildren }): VNode {
  return (
    <html lang="en">
      <Head title={props.title} />
      <body>
        <main id="main" class="bare">
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Tabs as links (each tab is its own URL, so it works without script and can be bookmarked). */
export function Tabs(props: { label: string; tabs: Array<{ href: string; label: string; current: boolean }> }) {
  return (
    <nav class="tabs" aria-label={props.label}>
      <ul>
        {props.tabs.map((t) => (
          <li>
            <a href={t.href} aria-current={t.current ? 'page' : undefined}>
              {t.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** "Next page" for keyset pagination; the cursor is opaque to the browser. */
export function Pager(props: { next: string | null; first?: string | undefined; label: string }) {
  if (!props.next && !props.first) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      {props.first ? <a href={props.first}>First page</a> : null}
      {props.next ? <a href={props.next}>Next page</a> : null}
    </nav>
  );
}

export const fmtDate = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
