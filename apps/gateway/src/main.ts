/**
 * `pnpm start`: runs the gateway with the configuration file given by `--config <file>` or
 * TOLLGATE_CONFIG (default: gateway.example.yaml beside this app, the demo), and prints where
 * everything is. A bad configuration exits with status 1 and says where and how to fix it.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorPrefix } from '@tollgate/core';
import { banner } from './banner.js';
import { GatewayConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { startGateway, type RunningGateway } from './gateway.js';

const EXAMPLE = fileURLToPath(new URL('../gateway.example.yaml', import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
  const file = values.config ?? process.env.TOLLGATE_CONFIG ?? EXAMPLE;
  let gateway: RunningGateway;
  try {
    gateway = await startGateway(loadConfig(file));
  } catch (error) {
    if (error instanceof GatewayConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`${errorPrefix('gateway')} ${(error as Error).message}\n  Fix: stop what uses that port, or choose another with PORT=<port> (or listen.port in the file)\n`);
      process.exit(1);
    }
    throw error;
  }
  process.stdout.write(banner(gateway, file));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void gateway.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
