export * from './tenancy.ts';
export * from './roles.ts';
export * from './security.ts';
export * from './jobs.ts';
