/** The package's public surface: what an API protected by Tessera imports. */
export * from './resource-server/index.ts';
