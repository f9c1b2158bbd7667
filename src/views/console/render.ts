import type { VNode } from 'preact';
import { renderToString } from 'preact-render-to-string';

/**
 * A console page as HTML. JSX text and attributes are escaped by
 * preact-render-to-string; nothing in the console uses
 * `dangerouslySetInnerHTML`, so escaping can't be forgotten.
 */
export const renderPage = (page: VNode): string => `<!doctype html>${renderToString(page)}`;
