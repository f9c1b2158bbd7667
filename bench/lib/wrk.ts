/**
 * Debian's `wrk` as the benches' load generator: it is far lighter than a Node
 * client on the same two cores, so more of the machine goes to the servers.
 */
import { execFileSync, spawn } from 'node:child_process';

/** `-t1 -c16 -d10s` unless BENCH_CONNECTIONS / BENCH_ROUND_SECONDS say otherwise. */
export const WRK_DEFAULTS = { connections: Number(process.env.BENCH_CONNECTIONS ?? 16), seconds: Number(process.env.BENCH_ROUND_SECONDS ?? 10) };

export interface WrkFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  /** Server CPU seconds per request over the run, where the caller measured it. */
  cpuPerRequest?: number;
}

export function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'pipe' });
  } catch (err) {
    // `wrk --version` prints its version and exits 1; only a missing binary is ENOENT.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      console.error('this bench needs wrk (Debian package "wrk"): apt-get install wrk');
      process.exit(2);
    }
  }
}

const ms = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!;

/** Runs wrk once and parses its summary (requests/s, latency percentiles, non-2xx count). */
export function wrk(url: string, script: string, args: string[] = [], opts: { connections: number; seconds: number } = WRK_DEFAULTS): Promise<WrkFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-s', script, url, ...(args.length ? ['--', ...args] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const p50 = /\s50%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
      const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
      const requests = /(\d+) requests in/.exec(out);
      if (code !== 0 || !rps || !p50 || !p99 || !requests) return reject(new Error(`wrk failed (${code}): ${out}`));
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        rps: Number(rps[1]),
        p50: ms(p50[1]!, p50[2]!),
        p99: ms(p99[1]!, p99[2]!),
        requests: Number(requests[1]),
        errors: Number(non2xx?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
      });
    });
  });
}

export const CC_LUA = (authorization: string, body: string) => `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "${authorization}"
wrk.body = "${body}"
`;

/** Each response's new refresh token goes back into the pool; a connection takes the oldest. */
export const REFRESH_LUA = (authorization: string) => `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "${authorization}"
local pool, head, tail = {}, 1, 0
function init(args)
  for line in io.lines(args[1]) do tail = tail + 1; pool[tail] = line end
end
function request()
  local token = pool[head] or "pool-exhausted"
  pool[head] = nil
  head = head + 1
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local next = body:match('"refresh_token":"([^"]+)"')
  if next then tail = tail + 1; pool[tail] = next end
end
`;

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
