import { CAPABILITIES } from '../../catalogue/index.ts';
import { z } from 'zod';
import type { RouteDef } from './route.ts';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

const toSchema = (schema: z.ZodType): JsonSchema => {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
};

const problem = { $ref: '#/components/schemas/Problem' };

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = toSchema(schema);
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

/** The OpenAPI 3.1 document of the admin API, generated from the route definitions. */
export function buildOpenApi(routes: readonly RouteDef[], opts: { issuer: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    // A route that answers with a body documents it; one without a response schema answers 204 (mountRoutes enforces it).
    const success = String(r.status ?? (r.response || r.produces ? 200 : 204));
    paths[path] ??= {};
    paths[path]![r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      'x-required-capabilities': r.capabilities,
      security: [{ bearer: r.capabilities }],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query'), ...(r.method === 'post' ? [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }] : [])],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(r.body) } } } } : {}),
      responses: {
        [success]: r.response
          ? { description: 'Success', content: { [r.produces ?? 'application/json']: { schema: toSchema(r.response) } } }
          : r.produces
            ? { description: 'Success', content: { [r.produces]: { schema: { type: 'string' } } } }
            : { description: 'Success, no content' },
        ...Object.fromEntries(
          ['400', '401', '403', '404', '409', '422'].map((s) => [s, { description: 'Problem', content: { 'application/problem+json': { schema: problem } } }]),
        ),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tessera admin API', version: opts.version, description: 'Manage roles, groups, users, assignments, applications, branding and the audit log. Authenticate with a Tessera access token for the audience `<issuer>/api`.' },
    servers: [{ url: `${opts.issuer}/api/v1` }],
    paths,
    components: {
      // Every capability is a scope a client may ask for (SPEC §3); reserved ones only an Owner holds.
      securitySchemes: {
        bearer: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: `${opts.issuer}/token`, scopes: Object.fromEntries(CAPABILITIES.map((c) => [c.id, `${c.name}${c.reserved ? ' (Owner only)' : ''}`])) } },
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code', 'detail'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            code: { type: 'string', description: 'Stable machine-readable error code' },
            detail: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}
