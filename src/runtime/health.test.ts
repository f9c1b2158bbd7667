import { describe, expect, it } from 'vitest';
import { createHealthMonitor } from './health.ts';

describe('health monitor transitions', () => {
  it('reports each dependency once when it goes and once when it is back, not on every probe', async () => {
    let redisUp = true;
    const changes: string[] = [];
    const monitor = createHealthMonitor(
      { postgres: async () => undefined, redis: async () => {
          if (!redisUp) throw new Error('down');
        },
      },
      { intervalMs: 60_000, onChange: (name, up) => changes.push(`${name} ${up ? 'up' : 'down'}`) },
    );
    try {
      await monitor.check();
      redisUp = false;
      await monitor.check();
      await monitor.check();
      monitor.reportDown('redis');
      expect(monitor.up).toBe(false);
      redisUp = true;
      await monitor.check();
      await monitor.check();
      expect(changes).toEqual(['redis down', 'redis up']);
      expect(monitor.status()).toEqual({ postgres: 'ok', redis: 'ok' });
    } finally {
      monitor.stop();
    }
  });
});
