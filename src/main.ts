import { ConfigError, loadConfig } from './config/index.ts';
import { createLogger } from './log/index.ts';
import { RedisUnavailableError } from './app/redis.ts';
import { createServer } from './app/index.ts';

const MODES = new Set(['all', 'serve', 'worker']);

/** Entry point: `npm start` runs HTTP and workers; `serve` and `worker` run one side each. */
async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'all';
  if (!MODES.has(mode)) {
    process.stderr.write(`usage: tessera [all|serve|worker]\n`);
    process.exit(2);
  }
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  // Workers arrive with the jobs issue; until then every mode serves HTTP except a pure worker.
  if (mode === 'worker') {
    logger.info('no background jobs are defined in this version; worker mode idles until SIGTERM');
    await new Promise<void>((resolve) => process.once('SIGTERM', resolve).once('SIGINT', resolve));
    return;
  }
  const tessera = await createServer(config, { logger });
  const { url } = await tessera.listen();
  logger.info({ issuer: config.issuer, listening: url, mode }, 'tessera started');
  process.stdout.write(`Tessera is listening on port ${config.PORT}; issuer ${config.issuer}\n`);
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await tessera.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof RedisUnavailableError) {
    process.stderr.write(`\n${err.message}\n\n`);
    process.exit(1);
  }
  process.stderr.write(`Tessera failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
