/**
 * `pnpm start`: runs the gateway with the configuration file given by `--config <file>` or
 * TOLLGATE_CONFIG (default: gateway.example.yaml beside this app, the demo), and prints where
 * everything is. A bad configuration exits with status 1 and says where and how to fix it.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GatewayConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { startGateway, type RunningGateway } from './gateway.js';

const EXAMPLE = fileURLToPath(new URL('../gateway.example.yaml', import.meta.url));

function banner(gateway: RunningGateway, file: string): string {
  const { url, policy, upstream } = gateway;
  // The demo's keys are no secret; a real configuration's are, and stay out of the output.
  const keys = upstream.simulated
    ? ['Demo API keys:', ...[...policy.config.keys].map(([secret, key]) => `  ${secret}   user "${key.user}", tier "${policy.tierOf(key.user)}"`)]
    : [`${policy.config.keys.size} API keys configured (keys: in the file).`];
  const [firstKey] = policy.config.keys.keys();
  const demoKey = upstream.simulated ? firstKey : '<an API key from the file>';
  return [
    '',
    upstream.simulated
      ? 'Tollgate gateway: DEMO MODE. The upstream is SIMULATED: replies are deterministic text, no real model is called.'
      : `Tollgate gateway, proxying ${upstream.baseUrl}`,
    '',
    `  OpenAI base URL  ${url}/v1`,
    `  dashboard        ${url}/dashboard#token=${encodeURIComponent(gateway.adminToken)}`,
    `  metrics          ${url}/metrics`,
    `  config           ${file} (tier, user and key changes apply without a restart)`,
    `  store            ${gateway.store}`,
    `  admin token      ${gateway.adminToken}${gateway.adminTokenGenerated ? '   (generated for this run; set TOLLGATE_ADMIN_TOKEN to choose one)' : ''}`,
    '',
    ...keys,
    '',
    'Try it:',
    `  curl ${url}/v1/chat/completions -H 'authorization: Bearer ${demoKey}' -H 'content-type: application/json' \\`,
    `    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}'`,
    ...(upstream.simulated ? ['  pnpm --filter tollgate-gateway traffic    # 60 requests: watch the ladder, the budget and the limits on the dashboard'] : []),
    '',
  ].join('\n');
}

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
      process.stderr.write(`[tollgate] [gateway] ${(error as Error).message}\n  Fix: stop what uses that port, or choose another with PORT=<port> (or listen.port in the file)\n`);
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
