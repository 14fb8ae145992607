import { startHostileUpstream, type Misbehaviour } from '@tollgate/test-kit/hostile-upstream';
import { costOf, estimateChatCompletion, genaiPrices } from '@tollgate/llm';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { afterTest, client, eventually, gatewayWith, logLines, tempDir, usedOf, writeConfig } from './support.js';

const carol = { user: 'carol' };
const nano = (usd: number) => Math.round(usd * 1e9);
const MESSAGES = [{ role: 'user' as const, content: 'Think hard: what is six times seven?' }];

/** One user on a tier without a ladder: a daily budget of `usd` and generous other limits. */
const policy = (usd: number, prices: string, lease: string) => `
tiers:
  metered:
    ${lease}
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 100000000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: ${usd}, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 100 }
users:
  carol: { tier: metered }
keys:
  sk-test-carol: { user: carol, name: carol-key }
${prices}`;

/** The gateway, logging at info into `log`, in front of a hostile upstream. */
async function behind(behaviour: Misbehaviour, { usd = 1, prices = '', lease = '', delayMs = 0 } = {}) {
  const upstream = await startHostileUpstream({ behaviour, delayMs });
  afterTest(() => upstream.close());
  const log = logLines();
  const gateway = await gatewayWith(writeConfig(policy(usd, prices, lease), { upstream: upstream.url, logLevel: 'info' }), { logStream: log.stream });
  return { upstream, gateway, log, openai: client(gateway, 'sk-test-carol') };
}

/** What the gateway reserves for a request: its cost is what unknown usage is charged. */
const reservation = (body: Record<string, unknown>) => estimateChatCompletion(body, { prices: genaiPrices() });

/** The user's limits once every request so far has released its lease. */
const settled = (gateway: Awaited<ReturnType<typeof gatewayWith>>, requests = 1) => eventually(() => usedOf(gateway.policy.limiter, carol), (used) => used.rpm === requests && used.inflight === 0);

describe('usage the upstream never reports is charged its reservation', () => {
  it('a stream cut off before its usage (reasoning hidden) keeps its reservation, and the log says so', async () => {
    // The stream's headers and first chunk come, then the connection drops a few hundred ms later.
    const { upstream, gateway, log, openai } = await behind('cut-reasoning', { delayMs: 200 });
    const body = { model: 'o3', messages: MESSAGES, max_completion_tokens: 2000 };

    const outcome = await (async () => {
      for await (const _ of await openai.chat.completions.create({ ...body, stream: true }));
    })().catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(Error);
    const reserved = await reservation(body);
    const used = await settled(gateway);
    expect(used.tpm).toBe(reserved.tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('o3', reserved)));
    expect(nano(used['daily-usd']!)).toBeGreaterThanOrEqual(nano(costOf('o3', upstream.billed[0]!)));
    expect(log.lines).toContainEqual(expect.objectContaining({ user: 'carol', usage: 'unknown', charged: 'reservation', metered: 'stream cut off by the upstream before its usage', msg: 'chat completion: usage unknown, charged its reservation' }));
  });

  it('on a tier whose leases charge only what was counted, a cut stream is charged that, and the log says so', async () => {
    const { gateway, log, openai } = await behind('cut-reasoning', { delayMs: 200, lease: 'lease: { onUnknownUsage: counted }' });
    const body = { model: 'o3', messages: MESSAGES, max_completion_tokens: 2000 };

    await (async () => {
      for await (const _ of await openai.chat.completions.create({ ...body, stream: true }));
    })().catch(() => undefined);

    // Nothing of the answer came before the cut: what was counted is the prompt.
    const { inputTokens } = await reservation(body);
    const used = await settled(gateway);
    expect(used.tpm).toBe(inputTokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('o3', { inputTokens, outputTokens: 0 })));
    expect(log.lines).toContainEqual(expect.objectContaining({ usage: 'unknown', charged: 'counted', msg: 'chat completion: usage unknown, charged what was counted (onUnknownUsage: counted)' }));
  });

  it('a JSON answer cut off half-way is a 502 for the client and keeps its reservation', async () => {
    const { gateway, log, openai } = await behind('cut-reasoning');
    const body = { model: 'o3', messages: MESSAGES, max_completion_tokens: 2000 };

    const error = await openai.chat.completions.create(body).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    const used = await settled(gateway);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('o3', await reservation(body))));
    // Cut before or after its headers reached the gateway, depending on the sockets: unknown either way.
    expect(log.lines).toContainEqual(expect.objectContaining({ usage: 'unknown', charged: 'reservation' }));
  });

  it('JSON answers without usable usage (none, {}, only total_tokens; negative, fractional or text counts) keep their reservations', async () => {
    for (const behaviour of ['no-usage', 'malformed-usage'] as const) {
      const { gateway, log, openai } = await behind(behaviour);
      const body = { model: 'o3', messages: MESSAGES, max_completion_tokens: 1000 };

      for (let i = 0; i < 3; i++) await openai.chat.completions.create(body);

      const used = await settled(gateway, 3);
      expect(nano(used['daily-usd']!), behaviour).toBe(3 * nano(costOf('o3', await reservation(body))));
      expect(log.lines.filter((line) => line.metered === 'json without usable usage' && line.charged === 'reservation'), behaviour).toHaveLength(3);
    }
  });

  it('a served model name no table knows, too long even to name, is priced as the model asked for', async () => {
    const model = `house-${'x'.repeat(240)}`;
    const { upstream, gateway, openai } = await behind('unknown-model', { prices: `prices:\n  ${model}: { input: 2, output: 8 }\n` });
    await openai.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 1000 });

    const used = await settled(gateway);
    const billed = upstream.billed[0]!;
    expect(nano(used['daily-usd']!)).toBe(nano(billed.inputTokens * 2e-6 + billed.outputTokens * 8e-6));
  });

  it('a record the store refuses is logged as charging the reservation, which the lease keeps', async () => {
    const redisPort = await startServer(tempDir());
    afterTest(() => stopServer(redisPort));
    const upstream = await startHostileUpstream({ behaviour: 'honest', delayMs: 300 });
    afterTest(() => upstream.close());
    const log = logLines();
    const gateway = await gatewayWith(writeConfig(policy(1, '', ''), { upstream: upstream.url, logLevel: 'info', store: `redis://127.0.0.1:${redisPort}` }), { logStream: log.stream });
    const answered = client(gateway, 'sk-test-carol').chat.completions.create({ model: 'o3', messages: MESSAGES, max_completion_tokens: 1000 });

    // Redis goes away while the upstream is answering: the record after the answer cannot be stored.
    await eventually(async () => upstream.billed.length, (calls) => calls === 1);
    await stopServer(redisPort);
    await answered;
    const failed = await eventually(async () => log.lines.find((line) => line.level === 50 && line.user === 'carol'), (line) => line !== undefined);
    expect(failed).toMatchObject({ msg: 'recording usage failed: the call is charged its reservation, which the lease keeps', model: 'o3' });
    expect(log.lines.some((line) => String(line.msg).includes('TTL'))).toBe(false);
  });
});

describe('an upstream that reports more than was reserved', () => {
  it('is charged in full, counted in the overrun metrics, logged, and the caller refused while the budget has no room', async () => {
    // o3 at 1,000 output tokens reserves under a cent; reported three times over, the call costs more than the budget.
    const { upstream, gateway, log, openai } = await behind('over-report', { usd: 0.01 });
    const body = { model: 'o3', messages: MESSAGES, max_completion_tokens: 1000 };

    await openai.chat.completions.create(body);
    const used = await settled(gateway);
    const refused = await openai.chat.completions.create(body).catch((e: unknown) => e);

    const reserved = costOf('o3', await reservation(body));
    const reported = costOf('o3', upstream.billed[0]!);
    expect(reported).toBeGreaterThan(0.01);
    expect(nano(used['daily-usd']!)).toBe(nano(reported));
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ limit: 'daily-usd' });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain('\ntollgate_overruns_total 1\n');
    const overrun = (nano(reported) - nano(reserved)) / 1e9;
    expect(metrics).toContain(`\ntollgate_overrun_usd_total ${overrun}\n`);
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 40, user: 'carol', key: 'carol-key', model: 'o3', reservedUsd: reserved, reportedUsd: reported }));
  });
});
