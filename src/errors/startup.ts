/**
 * A start-up failure the user can cause and fix (SPEC §1): Redis or Postgres
 * unreachable, a database that doesn't exist, a port in use, a data directory
 * held by another process. The message is one paragraph naming the variable
 * or resource and the fix; entry points print it without a stack trace.
 */
export class StartupError extends Error {
  override name = 'StartupError';
  constructor(
    message: string,
    /** Set where a caller acts on the kind, e.g. `data_dir_locked` (the CLI then goes through the running server). */
    readonly code?: string,
  ) {
    super(message);
  }
}

const hostOf = (url: string) => {
  const u = URL.parse(url);
  return u ? `${u.hostname}:${u.port || '5432'}` : 'the configured server';
};
const databaseOf = (url: string) => decodeURIComponent(URL.parse(url)?.pathname.replace(/^\//, '') || 'postgres');

/** Turns what connecting to Postgres threw into a StartupError when it is the user's to fix; anything else is returned as is. */
export function describeDatabaseError(err: unknown, url: string): unknown {
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] };
  const code = e?.code ?? e?.errors?.[0]?.code;
  const where = hostOf(url);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' || /timeout exceeded when trying to connect/i.test(e?.message ?? '')) {
    return new StartupError(
      `Tessera could not reach PostgreSQL at ${where} (DATABASE_URL). Start the server (Debian/Ubuntu: "pg_ctlcluster <version> main start"), ` +
        `correct DATABASE_URL, or unset DATABASE_URL to use the embedded database under TESSERA_DATA_DIR (./.tessera by default), which needs no server.`,
    );
  }
  if (code === '3D000') {
    const name = databaseOf(url);
    return new StartupError(`The database "${name}" does not exist on the PostgreSQL server at ${where} (DATABASE_URL). Create it with "createdb -h ${where.split(':')[0]} ${name}" (or CREATE DATABASE), or point DATABASE_URL at an existing database; Tessera creates its tables itself.`);
  }
  if (code === '28P01' || code === '28000') {
    return new StartupError(`PostgreSQL at ${where} refused the credentials in DATABASE_URL. Check the user name and password in the URL (postgres://user:password@host:port/database), or the server's pg_hba.conf.`);
  }
  return err;
}

/** The error of a listener that could not bind, as a StartupError when it is the user's to fix. */
export function describeListenError(err: unknown, variable: string, port: number, host: string): unknown {
  const code = (err as { code?: string })?.code;
  if (code === 'EADDRINUSE') {
    return new StartupError(`Port ${port} on ${host} (${variable}) is already in use by another process, perhaps another Tessera. Stop that process, or set ${variable} to a free port (for example ${variable}=${port + 1}); remember TESSERA_ISSUER if you set it.`);
  }
  if (code === 'EACCES') return new StartupError(`This user may not listen on port ${port} (${variable}): ports below 1024 need privileges. Set ${variable} to 1024 or above and put a proxy in front.`);
  if (code === 'EADDRNOTAVAIL') return new StartupError(`The address ${host} (HOST) is not one of this machine's: set HOST to 0.0.0.0, 127.0.0.1 or an address of this host.`);
  return err;
}
