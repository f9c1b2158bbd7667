import { ConfigError, loadConfig, type Config } from './config/index.ts';
import { createLogger, type Logger } from './log/index.ts';
import { StartupError } from './errors/startup.ts';
import { createCore, createServer, type Core } from './app/index.ts';
import { startControlSocket } from './app/control.ts';
import { startJobWorkers } from './app/workers.ts';

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
  if (mode === 'worker') {
    const core = await createCore(config, logger);
    const control = await controlFor(core, config);
    const workers = startJobWorkers(core);
    process.stdout.write('Tessera workers are running\n');
    // Active jobs finish (or reach a checkpoint) before the connections close.
    onShutdown(logger, async () => {
      control?.close();
      await workers.close();
      await core.close();
    });
    return;
  }
  const tessera = await createServer(config, { logger });
  const { url } = await tessera.listen();
  const control = await controlFor(tessera.core, config);
  const workers = mode === 'all' ? startJobWorkers(tessera.core, { registry: tessera.registry }) : undefined;
  logger.info({ issuer: config.issuer, listening: url, mode }, 'tessera started');
  process.stdout.write(`Tessera is listening on port ${config.PORT}; issuer ${config.issuer}\n`);
  // HTTP stops accepting and drains while workers finish their active jobs; only then do the
  // Postgres and Redis connections they share close.
  onShutdown(logger, async () => {
    control?.close();
    await Promise.all([tessera.closeHttp(), workers?.close()]);
    await tessera.close();
  });
}

/** On the embedded database, the CLI's way in while this process holds it (app/control.ts). */
function controlFor(core: Core, config: Config) {
  return config.DATABASE_URL ? Promise.resolve(undefined) : startControlSocket(core, config.TESSERA_DATA_DIR);
}

/** Runs `close` once on SIGTERM or SIGINT, then exits 0, or 1 if closing failed. */
function onShutdown(logger: Logger, close: () => Promise<void>): void {
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    try {
      await close();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError) {
    process.stderr.write(`\n${err.message}\n\n`);
    process.exit(1);
  }
  process.stderr.write(`Tessera failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
