import { z } from 'zod';
import { CAPABILITIES, CATALOGUE_VERSION, groupByArea } from '../../../catalogue/index.ts';
import { route, type RouteDef } from '../../api/route.ts';

const capability = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  status: z.enum(['available', 'in_flight']),
  requires: z.array(z.string()),
  reserved: z.boolean(),
});

/** The capability catalogue, grouped by area (SPEC §3). */
export function capabilityRoutes(): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/capabilities',
      tag: 'capabilities',
      summary: 'The capability catalogue grouped by area',
      capabilities: [],
      response: z.object({ version: z.number(), areas: z.array(z.object({ area: z.string(), capabilities: z.array(capability) })) }),
      handler: async () => ({
        version: CATALOGUE_VERSION,
        areas: groupByArea(CAPABILITIES).map(({ area, items }) => ({
          area,
          capabilities: items.map(({ id, name, description, status, requires, reserved }) => ({ id, name, description, status, requires: [...requires], reserved })),
        })),
      }),
    }),
  ];
}
