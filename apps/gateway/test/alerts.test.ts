import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { afterTest, client, eventually, gatewayWith, HELLO, writeConfig } from './support.js';

const SECRET = 'alert-secret-0123456789';

/** A webhook receiver on loopback that fails its first `failFirst` deliveries with a 503. */
async function receiver(failFirst: number) {
  const received: Array<{ body: string; signature: string | undefined }> = [];
  let calls = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => {
      calls++;
      if (calls <= failFirst) return void response.writeHead(503).end();
      received.push({ body, signature: request.headers['x-tollgate-signature'] as string | undefined });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterTest(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, received, calls: () => calls };
}

const policy = (webhook: string) => `
alerts: { webhook: "${webhook}", secret: ${SECRET}, fractions: [0.5, 0.8] }
tiers:
  t:
    limits:
      - { name: daily-usd, scope: user, resource: cost, limit: 0.0005, reset: { every: day } }
users:
  dana: { tier: t }
keys:
  sk-test-dana: { user: dana }
`;

describe('budget alerts', () => {
  it('posts one signed alert per fraction reached, once per budget period, retrying a failed delivery', async () => {
    const hook = await receiver(1);
    const gateway = await gatewayWith(writeConfig(policy(hook.url)));
    const openai = client(gateway, 'sk-test-dana');

    let refused = false;
    for (let i = 0; i < 30 && !refused; i++) {
      await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).catch((error: unknown) => {
        if (!(error instanceof OpenAI.RateLimitError)) throw error;
        refused = true;
      });
    }
    // The first delivery failed; its retry comes a second later.
    const received = await eventually(async () => hook.received, (all) => all.length === 2);

    expect(refused).toBe(true);
    const alerts = received.map(({ body }) => JSON.parse(body) as Record<string, unknown>);
    expect(alerts.map((alert) => alert.fraction).sort()).toEqual([0.5, 0.8]);
    for (const alert of alerts) expect(alert).toMatchObject({ type: 'budget.threshold', limit: 'daily-usd', scope: 'user', id: 'dana', budget: 0.0005 });
    for (const { body, signature } of received) expect(signature).toBe(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
    expect(hook.calls()).toBe(3);
    // Later decisions past both fractions send nothing more.
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(hook.calls()).toBe(3);
  });

  it('refuses fractions that are not rising fractions of a budget', async () => {
    const { loadConfig } = await import('../src/config/load.js');
    const file = writeConfig(policy('http://127.0.0.1:1/hook').replace('fractions: [0.5, 0.8]', 'fractions: [0.8, 0.5]'));

    expect(() => loadConfig(file, {})).toThrow(/alerts\.fractions\[1\]: expected a fraction above the one before and at most 1, got number 0\.5/);
  });
});
