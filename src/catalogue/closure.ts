import { CAPABILITY_BY_ID } from './capabilities.ts';

/** Returns true when `id` names a catalogue capability. */
export const isCapability = (id: string): boolean => CAPABILITY_BY_ID.has(id);

/**
 * Dependency closure: the given capabilities plus everything they require,
 * transitively, sorted. Unknown ids are kept out; validate them first.
 */
export function closeUnderRequires(ids: Iterable<string>): string[] {
  const out = new Set<string>();
  const stack = [...ids];
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id)) continue;
    const cap = CAPABILITY_BY_ID.get(id);
    if (!cap) continue;
    out.add(id);
    stack.push(...cap.requires);
  }
  return [...out].sort();
}

/** True when every capability's requirements are in the set. */
export function isClosed(ids: readonly string[]): boolean {
  const set = new Set(ids);
  return ids.every((id) => (CAPABILITY_BY_ID.get(id)?.requires ?? []).every((r) => set.has(r)));
}

/** Groups the catalogue by area, for the capabilities endpoint and the consent page. */
export function groupByArea<T extends { area: string }>(items: readonly T[]): { area: string; items: T[] }[] {
  const areas = new Map<string, T[]>();
  for (const item of items) {
    const list = areas.get(item.area) ?? [];
    list.push(item);
    areas.set(item.area, list);
  }
  return [...areas].map(([area, list]) => ({ area, items: list }));
}
