import { CAPABILITY_BY_ID } from '../catalogue/index.ts';
import { esc, layout, type Branding } from './layout.ts';

export function loginPage(p: { branding: Branding; action: string; csrf: string; email?: string; error?: string; clientName: string }): string {
  return layout(
    'Sign in',
    p.branding,
    `<h1>Sign in to ${esc(p.clientName)}</h1>
${p.error ? `<p class="error" role="alert">${esc(p.error)}</p>` : ''}
<form method="post" action="${esc(p.action)}" autocomplete="on">
<input type="hidden" name="csrf" value="${esc(p.csrf)}">
<label for="email">Email</label><input id="email" type="email" name="email" required autofocus value="${esc(p.email ?? '')}" autocomplete="username">
<label for="password">Password</label><input id="password" type="password" name="password" required autocomplete="current-password">
<button type="submit">Sign in</button>
</form>`,
  );
}

export function consentPage(p: { branding: Branding; action: string; abortAction: string; csrf: string; clientName: string; scopes: string[]; oidcScopes: string[] }): string {
  const caps = p.scopes
    .map((id) => {
      const cap = CAPABILITY_BY_ID.get(id);
      return `<li><strong>${esc(cap?.name ?? id)}</strong> <code>${esc(id)}</code>${cap ? `<br><span class="muted">${esc(cap.description)}</span>` : ''}</li>`;
    })
    .join('');
  return layout(
    'Authorize',
    p.branding,
    `<h1>${esc(p.clientName)} wants access to your account</h1>
${p.oidcScopes.length ? `<p class="muted">Identity: ${p.oidcScopes.map(esc).join(', ')}</p>` : ''}
${caps ? `<p>It asks for these capabilities, as far as your roles allow:</p><ul class="scopes">${caps}</ul>` : ''}
<form method="post" action="${esc(p.action)}"><input type="hidden" name="csrf" value="${esc(p.csrf)}"><button type="submit">Allow</button></form>
<form method="post" action="${esc(p.abortAction)}"><input type="hidden" name="csrf" value="${esc(p.csrf)}"><button type="submit" class="secondary">Deny</button></form>`,
  );
}

export function messagePage(branding: Branding, title: string, message: string, extra = ''): string {
  return layout(title, branding, `<h1>${esc(title)}</h1><p>${esc(message)}</p>${extra}`);
}
