import { can, Csrf, Layout, type Notice, type Viewer } from './layout.tsx';

/** WCAG 2 contrast ratio of a #rgb/#rrggbb colour against white (the sign-in button's text), or null for another shape. */
export function contrastWithWhite(colour: string): number | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(colour.trim());
  if (!m) return null;
  const hex = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!;
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)) as [number, number, number];
  const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return 1.05 / (l + 0.05);
}

export interface BrandingValues {
  display_name: string;
  logo_url: string;
  accent_color: string;
}

export function BrandingPage(props: { viewer: Viewer; notice?: Notice | undefined; values: BrandingValues; error?: string | undefined }) {
  const { viewer, values } = props;
  const edit = can(viewer, 'branding:edit');
  const ratio = values.accent_color ? contrastWithWhite(values.accent_color) : contrastWithWhite('#3b5bdb');
  const preview = `/console/branding/preview?${new URLSearchParams({ display_name: values.display_name, logo_url: values.logo_url, accent_color: values.accent_color })}`;
  return (
    <Layout title="Branding" section="branding" viewer={viewer} notice={props.error ? { kind: 'error', text: props.error } : props.notice}>
      <p>What people see on Tessera’s sign-in, consent and sign-out pages for this tenant.</p>
      <form method={edit ? 'post' : 'get'} action="/console/branding" data-branding>
        {edit ? <Csrf viewer={viewer} /> : null}
        <label for="display_name">Display name</label>
        <input id="display_name" type="text" name="display_name" value={values.display_name} maxlength={100} required readonly={!edit} />
        <label for="logo_url">Logo URL (https)</label>
        <input id="logo_url" type="url" name="logo_url" value={values.logo_url} maxlength={2000} readonly={!edit} />
        <label for="accent_color">Accent colour</label>
        <input id="accent_color" type="text" name="accent_color" value={values.accent_color} placeholder="#3b5bdb" pattern="#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})" readonly={!edit} aria-describedby="contrast" />
        <p id="contrast" data-contrast class={ratio === null ? 'contrast' : ratio >= 4.5 ? 'contrast pass' : 'contrast fail'} aria-live="polite">
          {ratio === null
            ? 'Enter a colour as #rrggbb to check its contrast.'
            : `Contrast with white button text: ${ratio.toFixed(2)}:1 — ${ratio >= 4.5 ? 'passes' : 'fails'} WCAG AA (4.5:1).`}
        </p>
        {edit ? (
          <div class="actions">
            <button type="submit">Save branding</button>
            <button type="submit" class="secondary" formmethod="get" formaction="/console/branding">
              Preview without saving
            </button>
          </div>
        ) : null}
      </form>
      <h2>Preview</h2>
      <iframe class="preview" src={preview} title="Sign-in page preview" data-preview />
    </Layout>
  );
}
