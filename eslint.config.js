import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports flow one way (STYLE "Where to take it" 3): entry points (http, oidc,
 * jobs, console) → services → queries/db and the infrastructure below them;
 * app/, main.ts and cli.ts compose everything. A back edge fails the lint.
 */
const LAYERS = {
  entry: ['http', 'oidc', 'jobs', 'console', 'views'],
  app: ['app'],
};
const dirs = (names) => names.map((n) => `**/${n}/**`);
const zone = (files, forbidden, why, extra = {}) => ({
  files: files.map((f) => `src/${f}/**`),
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: [{ group: dirs(forbidden), message: why, ...extra }] },
    ],
  },
});
const ZONES = [
  zone(['db', 'config', 'errors', 'catalogue', 'runtime', 'log', 'redis', 'text'], ['queries', 'cache', 'sessions', 'entitlements', 'services', ...LAYERS.entry, ...LAYERS.app], 'foundations depend on nothing above them'),
  zone(['queries'], ['entitlements', 'cache', 'sessions', 'services', ...LAYERS.entry, ...LAYERS.app], 'queries/ returns rows: SQL only, no domain or service code'),
  zone(['cache', 'sessions', 'entitlements'], ['services', ...LAYERS.entry, ...LAYERS.app], 'infrastructure sits below services'),
  zone(['services'], [...LAYERS.entry, ...LAYERS.app], 'services own their ports; entry points and the composition root call them, never the reverse'),
  zone(['views'], ['http', 'oidc', 'jobs', 'console', 'queries', 'db', ...LAYERS.app], 'views are functions of data'),
  zone(['http', 'console'], ['queries', 'db', 'jobs', ...LAYERS.app], 'a route validates, calls a service and shapes the answer: no SQL, no composition', { allowTypeImports: true }),
  zone(['oidc', 'jobs'], ['http', 'console', ...LAYERS.app], 'entry points sit beside http, not on it'),
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'drizzle/**', '.tessera/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'read configuration through src/config' }],
    },
  },
  ...ZONES,
  // The console's one script runs in the browser.
  {
    files: ['src/console/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['window', 'document', 'fetch', 'setTimeout', 'clearTimeout', 'FormData', 'URLSearchParams', 'HTMLFormElement', 'CSS'].map((g) => [g, 'readonly'])),
    },
  },
  // Tests, benches and the examples (standalone apps configured by their own environment) read process.env directly.
  { files: ['test/**', 'bench/**', 'examples/**', '*.config.ts', '*.config.js'], rules: { 'no-restricted-syntax': 'off' } },
);
