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

const TIMEOUT = Symbol('probe timeout');

export function createHealthMonitor(
  probes: Record<string, () => Promise<void>>,
  opts: { intervalMs?: number; timeoutMs?: number; onChange?: (name: string, up: boolean) => void } = {},
): HealthMonitor {
  const states = new Map(Object.keys(probes).map((n) => [n, true]));
  // Every transition, and only transitions, is reported: one line when a dependency goes, one when it is back.
  const state = {
    set(name: string, up: boolean) {
      if (states.get(name) === up) return;
      states.set(name, up);
      opts.onChange?.(name, up);
    },
    values: () => states.values(),
    [Symbol.iterator]: () => states[Symbol.iterator](),
  };
  const slow = new Map(Object.keys(probes).map((n) => [n, 0]));
  const timeout = opts.timeoutMs ?? 1_500;
  const probe = async (name: string, fn: () => Promise<void>) => {
    try {
      const outcome = await Promise.race([fn(), new Promise<typeof TIMEOUT>((resolve) => setTimeout(() => resolve(TIMEOUT), timeout).unref())]);
      if (outcome === TIMEOUT) {
        // A refused connection closes the gate at once; a slow answer (a busy event loop, embedded
        // PGlite under load) only when it happens twice in a row.
        const count = (slow.get(name) ?? 0) + 1;
        slow.set(name, count);
        if (count >= 2) state.set(name, false);
        return;
      }
      slow.set(name, 0);
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

/** Wraps probes so each failure is reported (to a metric) before it propagates. */
export function countFailures(probes: Record<string, () => Promise<void>>, onFailure: (name: string) => void): Record<string, () => Promise<void>> {
  return Object.fromEntries(
    Object.entries(probes).map(([name, probe]) => [
      name,
      async () => {
        try {
          await probe();
        } catch (err) {
          onFailure(name);
          throw err;
        }
      },
    ]),
  );
}
