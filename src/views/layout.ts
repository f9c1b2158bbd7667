/** Escapes text for HTML bodies and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

import type { Branding } from '../services/branding.ts';

export type { Branding } from '../services/branding.ts';

const SAFE_COLOUR = /^#[0-9a-fA-F]{3,8}$/;

/** Page chrome shared by the sign-in, consent, logout and error pages. No scripts. */
export function layout(title: string, branding: Branding, body: string): string {
  const accent = branding.accentColor && SAFE_COLOUR.test(branding.accentColor) ? branding.accentColor : '#3b5bdb';
  const logoUrl = branding.logoUrl && /^https:\/\//.test(branding.logoUrl) ? branding.logoUrl : null;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · ${esc(branding.displayName)}</title>
<style>
:root{--accent:${accent}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1f2328}
main{max-width:380px;margin:8vh auto;padding:32px;background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 16px}.brand{display:flex;align-items:center;gap:10px;margin-bottom:24px;font-weight:600}
.brand img{max-height:32px;max-width:120px}label{display:block;font-size:.875rem;margin:12px 0 4px}
input[type=email],input[type=password]{width:100%;padding:10px;border:1px solid #ccd;border-radius:6px;font:inherit}
button{width:100%;margin-top:20px;padding:10px;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.secondary{background:#e9ecef;color:#1f2328;margin-top:8px}.error{background:#fff0f0;border:1px solid #f3c0c0;color:#a01010;padding:10px;border-radius:6px;font-size:.9rem}
ul.scopes{padding-left:18px}ul.scopes code{font-size:.85rem}.muted{color:#667;font-size:.85rem}
</style>
</head>
<body><main><div class="brand">${logoUrl ? `<img src="${esc(logoUrl)}" alt="">` : ''}<span>${esc(branding.displayName)}</span></div>
${body}
</main></body></html>`;
}
