/**
 * Container health probe: `node dist/healthcheck.js [path]`.
 *
 * The runtime image (distroless) has no shell, curl or wget, so its
 * HEALTHCHECK runs this file with the image's node. It GETs
 * `http://127.0.0.1:<PORT><path>` (path defaults to `/healthz`; pass
 * `/readyz` to check readiness) and exits 0 on a 2xx answer, 1 otherwise,
 * within about two seconds. It reads PORT and HOST the way the server does.
 */
import { loadConfig } from './config/index.ts';

const TIMEOUT_MS = 2_000;

/** The address to probe: the server's own address, or loopback when it listens on every interface. */
function probeHost(host: string): string {
  if (host === '' || host === '0.0.0.0' || host === '::' || host === 'localhost') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

async function main(): Promise<number> {
  const path = process.argv[2] ?? '/healthz';
  if (!path.startsWith('/')) {
    process.stderr.write('usage: healthcheck [/path]\n');
    return 1;
  }
  const config = loadConfig();
  const url = `http://${probeHost(config.HOST)}:${config.PORT}${path}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'manual' });
    await res.body?.cancel();
    if (res.ok) return 0;
    process.stderr.write(`${url} answered ${res.status}\n`);
    return 1;
  } catch (err) {
    process.stderr.write(`${url} did not answer: ${(err as Error).message}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`healthcheck failed: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
