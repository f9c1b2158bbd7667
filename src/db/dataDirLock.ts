import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StartupError } from '../errors/startup.ts';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One owner of the embedded database (SPEC §1, CHECKLIST fault 9). PGlite is
 * single-process: a second process on the same directory would write behind
 * the first one's back and lose what it wrote. The first process to open the
 * directory creates `tessera.lock` exclusively; any other stops at once with a
 * message naming the holder. A lock left by a process that died (same host,
 * pid gone) is taken over.
 */
export function lockDataDir(dir: string): { release(): void } {
  const path = join(dir, 'tessera.lock');
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: process.argv.slice(2).join(' ') || 'start' };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(mine));
      closeSync(fd);
      return {
        release() {
          try {
            const held = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
            if (held.pid === mine.pid && held.host === mine.host) unlinkSync(path);
          } catch {
            // Already gone.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let held: LockInfo | undefined;
    try {
      held = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    } catch {
      held = undefined;
    }
    const stale = !held || (held.host === mine.host && !alive(held.pid));
    if (!stale) {
      throw new StartupError(
        `The embedded database in ${dir} is in use by another Tessera process (pid ${held!.pid} on ${held!.host}, "${held!.command}", started ${held!.started}). ` +
          `PGlite serves one process at a time, and a second one would write behind its back and lose what it wrote, so this one stops here. ` +
          `Stop that process first, or make the change through the running server (the admin API at <issuer>/api/v1; rotate-client-secret goes through it by itself), or set DATABASE_URL to a PostgreSQL server, ` +
          `which any number of Tessera processes and CLI commands can share. If no Tessera runs any more, delete ${path}.`,
        'data_dir_locked',
      );
    }
    try {
      unlinkSync(path);
    } catch {
      // Another starter took it over first; the next attempt finds its lock.
    }
  }
  throw new StartupError(`Another process is taking over the embedded database in ${dir} at the same moment; try again.`);
}
