export * from './capabilities.ts';
export * from './closure.ts';
export * from './systemRoles.ts';
