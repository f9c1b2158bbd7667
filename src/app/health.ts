/**
 * Tracks whether Postgres and Redis are reachable, from a probe every second
 * and from connection errors seen by requests. While either is down Tessera
 * fails closed (see http/app.ts); it reopens by itself once probes succeed.
 */
export interface HealthMonitor {
  readonly up: boolean;
  status(): Record<string, 'ok' | 'unavailable'>;
  /** Marks a dependency down at once (a request just failed to reach it). */
  reportDown(name: string): void;
  /** Runs all probes now. */
  check(): Promise<void>;
  stop(): void;
}

export function createHealthMonitor(probes: Record<string, () => Promise<void>>, opts: { intervalMs?: number; timeoutMs?: number } = {}): HealthMonitor {
  const state = new Map(Object.keys(probes).map((n) => [n, true]));
  const timeout = opts.timeoutMs ?? 1_000;
  const probe = async (name: string, fn: () => Promise<void>) => {
    try {
      await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('probe timeout')), timeout).unref())]);
      state.set(name, true);
    } catch {
      state.set(name, false);
    }
  };
  const check = () => Promise.all(Object.entries(probes).map(([n, fn]) => probe(n, fn))).then(() => undefined);
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void check().finally(() => (running = false));
  }, opts.intervalMs ?? 1_000);
  timer.unref();
  return {
    get up() {
      for (const ok of state.values()) if (!ok) return false;
      return true;
    },
    status: () => Object.fromEntries([...state].map(([n, ok]) => [n, ok ? 'ok' : 'unavailable'])),
    reportDown: (name) => void state.set(name, false),
    check,
    stop: () => clearInterval(timer),
  };
}
