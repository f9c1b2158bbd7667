import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import { route, type RouteDef } from '../../api/route.ts';

// The sign-in layout renders only these shapes (src/http/views/layout.ts); anything else is refused up front.
const httpsUrl = z.url({ protocol: /^https$/, message: 'must be an https URL' }).max(2_000);
const hexColour = z.string().regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be #rgb or #rrggbb');

const brandingView = z.object({ display_name: z.string(), logo_url: z.string().nullable(), accent_color: z.string().nullable() });

const updateBody = z
  .strictObject({
    display_name: z.string().trim().min(1).max(100).optional(),
    logo_url: httpsUrl.nullable().optional(),
    accent_color: hexColour.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to update');

/** The caller's tenant branding on the sign-in pages (SPEC §11). */
export function brandingRoutes(deps: { services: Services }): RouteDef[] {
  const { tenants } = deps.services;
  return [
    route({
      method: 'get',
      path: '/branding',
      tag: 'branding',
      summary: 'Get the sign-in page branding',
      capabilities: ['branding:view'],
      response: brandingView,
      handler: ({ access }) => tenants.branding(access),
    }),
    route({
      method: 'patch',
      path: '/branding',
      tag: 'branding',
      summary: 'Change the display name, logo URL or accent colour; sign-in pages show it at once',
      capabilities: ['branding:edit'],
      body: updateBody,
      response: brandingView,
      handler: ({ access, body }) =>
        tenants.updateBranding(access, {
          ...(body.display_name !== undefined ? { displayName: body.display_name } : {}),
          ...(body.logo_url !== undefined ? { logoUrl: body.logo_url } : {}),
          ...(body.accent_color !== undefined ? { accentColor: body.accent_color } : {}),
        }),
    }),
  ];
}
