import type { Services } from '../../../app/services.ts';
import type { RouteDef } from '../../api/route.ts';

// Placeholder until this resource's routes are written.
export function groupRoutes(_deps: { services: Services; [k: string]: unknown }): RouteDef[] {
  return [];
}
