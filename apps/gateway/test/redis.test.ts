import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { costOf, estimateChatCompletion } from '@tollgate/llm';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HELLO } from './support.js';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const nano = (usd: number) => Math.round(usd * 1e9);

/** One gateway process as `pnpm start` runs it, and the base URL its banner printed. */
interface Instance {
  child: ChildProcess;
  url: string;
}

function startInstance(config: string, redisUrl: string): Promise<Instance> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that stopping it stops whatever it started.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config], {
      cwd: appDir,
      env: { ...process.env, REDIS_URL: redisUrl, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the gateway did not start within 90 s:\n${output}`)), 90_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      const url = /OpenAI base URL\s+(http:\/\/\S+)\/v1/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url });
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}:\n${output}`)));
  });
}

async function stopInstance({ child }: Instance): Promise<void> {
  if (child.exitCode !== null || !child.pid) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  await exited;
}

const body = { model: 'gpt-4o', messages: HELLO, max_tokens: 16 };
let dir: string;
let redisPort: number;
let instances: Instance[] = [];
/** What one request costs: the simulated upstream bills its prompt as estimated and exactly max_tokens of output. */
let cost: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-gateway-redis-'));
  redisPort = await startServer(dir);
  const { inputTokens } = await estimateChatCompletion(body);
  cost = costOf('gpt-4o', { inputTokens, outputTokens: body.max_tokens });
  // Room for ten requests and a half: exactly ten fit, whichever instance serves them.
  const config = join(dir, 'gateway.yaml');
  writeFileSync(config, `
listen: { host: 127.0.0.1, port: 0 }
demo: { chunkDelayMs: 1 }
tiers:
  team:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: ${(10.5 * cost).toPrecision(15)}, reset: { every: day } }
users:
  carol: { tier: team }
keys:
  sk-test-carol: { user: carol }
`);
  instances = await Promise.all([startInstance(config, `redis://127.0.0.1:${redisPort}`), startInstance(config, `redis://127.0.0.1:${redisPort}`)]);
});

afterAll(async () => {
  await Promise.all(instances.map(stopInstance));
  if (redisPort) await stopServer(redisPort);
  rmSync(dir, { recursive: true, force: true });
});

describe('two gateway processes on one Redis', () => {
  it('are both ready: the store answers their probe', async () => {
    const answers = await Promise.all(instances.map(async ({ url }) => {
      const response = await fetch(`${url}/health/ready`);
      return { status: response.status, body: await response.json() };
    }));

    expect(answers).toEqual([{ status: 200, body: { ok: true, store: 'ok' } }, { status: 200, body: { ok: true, store: 'ok' } }]);
  });

  it('share one budget exactly: a concurrent burst across both admits exactly what the budget holds', async () => {
    const clients = instances.map(({ url }) => new OpenAI({ apiKey: 'sk-test-carol', baseURL: `${url}/v1`, maxRetries: 0 }));

    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => clients[i % 2]!.chat.completions.create(body)));

    const served = results.filter((r): r is PromiseFulfilledResult<OpenAI.ChatCompletion> => r.status === 'fulfilled').map((r) => r.value);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
    expect(served).toHaveLength(10);
    expect(served.every((completion) => completion.usage!.completion_tokens === body.max_tokens)).toBe(true);
    expect(refused).toHaveLength(20);
    expect(refused.every((error) => error instanceof OpenAI.RateLimitError && error.error && (error.error as { limit?: string }).limit === 'daily-usd')).toBe(true);

    // Both instances read the same spend from Redis: exactly the ten requests' cost.
    const spends = await Promise.all(
      instances.map(async ({ url }) => {
        const overview = await (await fetch(`${url}/admin/api/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
        return nano(overview.users[0].spend.used);
      }),
    );
    expect(spends).toEqual([10 * nano(cost), 10 * nano(cost)]);
  });
});
