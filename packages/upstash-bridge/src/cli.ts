/**
 * Runs a bridge from the command line and prints what to put in a serverless app's environment.
 *
 *   pnpm --filter @tollgate/upstash-bridge start -- --redis redis://127.0.0.1:6379 --token dev --port 8079
 *
 * Flags win over the environment variables REDIS_URL, UPSTASH_BRIDGE_TOKEN and PORT.
 */
import { parseArgs } from 'node:util';
import { startBridge } from './index.js';

const usage = `Usage: upstash-bridge --token <token> [--redis <redis://url>] [--port <port>] [--host <address>]

  --redis  Redis to forward to     (env REDIS_URL, default redis://127.0.0.1:6379)
  --token  bearer token to require (env UPSTASH_BRIDGE_TOKEN, required)
  --port   HTTP port, 0 for any     (env PORT, default 8079)
  --host   address to listen on    (default 127.0.0.1; there is no TLS, keep it local)`;

function fail(message: string): never {
  console.error(`upstash-bridge: ${message}\n\n${usage}`);
  process.exit(1);
}

/** The Redis URL for display: a password in it should not end up in terminal scrollback. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

// `pnpm start -- --flag` may pass the `--` through; parseArgs would read everything after it as
// positionals.
const argv = process.argv.slice(2);
if (argv[0] === '--') argv.shift();

let values: { redis?: string; token?: string; port?: string; host?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    args: argv,
    options: { redis: { type: 'string' }, token: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const redis = values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const token = values.token ?? process.env.UPSTASH_BRIDGE_TOKEN;
const portText = values.port ?? process.env.PORT ?? '8079';
const port = Number(portText);
if (!token) fail('a token is required (--token or UPSTASH_BRIDGE_TOKEN)');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${JSON.stringify(portText)}`);

try {
  const bridge = await startBridge({ redis, token, port, host: values.host });
  console.log(`upstash-bridge: ${bridge.url} -> ${withoutPassword(redis)}

Set these in your serverless app's environment:

UPSTASH_REDIS_REST_URL=${bridge.url}
UPSTASH_REDIS_REST_TOKEN=${token}
`);
  const stop = () => void bridge.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
