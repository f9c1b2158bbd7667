import type { Services } from '../../../app/services.ts';
import type { RouteDef } from '../../api/route.ts';

// Placeholder until this resource's routes are written.
export function bulkRoutes(_deps: { services: Services }): RouteDef[] {
  return [];
}
