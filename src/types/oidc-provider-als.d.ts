/**
 * oidc-provider's request store (the AsyncLocalStorage behind `Provider.ctx`),
 * shared with Tessera's own routes (runtime/requestContext.ts). Not part of its
 * typed API; the version is pinned in package.json and test/integration/request-context.test.ts
 * fails if the store stops being the one `Provider.ctx` reads.
 */
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';

  const als: AsyncLocalStorage<object>;
  export default als;
}
