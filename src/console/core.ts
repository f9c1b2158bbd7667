import type { Context } from 'koa';
import type { VNode } from 'preact';
import type { Access } from '../services/authority.ts';
import type { Notice, Viewer } from '../views/console/layout.tsx';
import { renderPage } from '../views/console/render.ts';
import type { ConsoleSession } from './session.ts';

/** Everything a console page handler gets: the signed-in admin's Access (the same one the admin API builds) and the form, for POSTs. */
export interface ConsoleContext {
  ctx: Context;
  access: Access;
  viewer: Viewer;
  session: ConsoleSession;
  /** The form of a POST (checked for its CSRF token already). */
  form: { one: Record<string, string>; many: Record<string, string[]> };
  /** The notice left by the previous request (post, redirect, get), shown once. */
  notice: Notice | undefined;
  /** Redirects after a POST, leaving a notice for the page it lands on. */
  redirect(to: string, notice?: Notice): Promise<void>;
}

export interface ConsolePage {
  method: 'GET' | 'POST';
  /** Path under /console, Koa style. */
  path: string;
  /** Capabilities the admin must hold (token ∩ entitlement), all of them, as the matching admin API operation declares. */
  needs: readonly string[];
  /** Form fields that may repeat (checkbox groups). */
  lists?: readonly string[];
  handle(c: ConsoleContext): Promise<void>;
}

export const consolePage = (def: ConsolePage): ConsolePage => def;

/** Sends a rendered page. */
export function send(ctx: Context, page: VNode, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = renderPage(page);
}

/** A field of a form or query string, trimmed; '' when absent. */
export const field = (values: Record<string, string | string[] | undefined>, name: string): string => {
  const v = values[name];
  return typeof v === 'string' ? v.trim() : '';
};
