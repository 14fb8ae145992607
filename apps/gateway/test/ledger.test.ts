import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import type { LedgerRow } from '../src/ledger/ledger-types.js';
import { sqliteLedger } from '../src/ledger/sqlite-ledger.js';
import { startHostileUpstream } from '@tollgate/test-kit/hostile-upstream';
import { afterTest, client, eventually, gatewayWith, HELLO, logLines, POLICY, spend, usedOf, writeConfig } from './support.js';

const nano = (usd: number) => Math.round(usd * 1e9);
/** alice may make three requests a minute: the fourth is refused on `rpm`. */
const THREE_A_MINUTE = POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 3, window: 1m }\n      - { name: tpm');
const DAY_MS = 86_400_000;

/** The SQLite file a gateway counts in. */
const sqlitePath = (gateway: RunningGateway) => gateway.store.replace(/^sqlite:/, '');

/** The ledger's rows once it holds `count` (a cut stream's row comes when its settlement does), newest first. */
const rowsWhen = async (gateway: RunningGateway, count: number, query: Record<string, string> = {}) =>
  (await eventually(() => spend(gateway, query), ({ body }) => body.rows.length === count)).body.rows;

/** A row as a test writes it straight into a ledger. */
function row(time: number, requestId: string): LedgerRow {
  return { time, requestId, user: 'alice', team: null, key: 'alice-key', route: '/v1/chat/completions', requestedModel: 'gpt-4o', model: 'gpt-4o', degradeStep: 0, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0, toolCalls: 0, costNanoUsd: 1_000, usageKnown: true, status: 200, latencyMs: 3, refusal: null };
}

describe('the spend ledger', () => {
  it('keeps one row per request to the LLM routes: who, the route, the models, the step, the tokens, what the counters charged, the status, the latency and why it was refused', async () => {
    const gateway = await gatewayWith(writeConfig(THREE_A_MINUTE));
    const openai = client(gateway, 'sk-test-alice');
    const started = Date.now();

    const completion = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 50 });
    for await (const _ of await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 20, stream: true }));
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'what the ledger keeps' });
    const refused = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((error: unknown) => error);
    const message = await new Anthropic({ apiKey: 'sk-test-bob', baseURL: gateway.url, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 30, messages: HELLO });

    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const rows = await rowsWhen(gateway, 5);
    const [anthropic, refusal, embedding, stream, json] = rows;
    expect(json).toMatchObject({ user: 'alice', team: null, key: 'alice-key', route: '/v1/chat/completions', requestedModel: 'gpt-4o', model: 'gpt-4o', degradeStep: 0, inputTokens: completion.usage!.prompt_tokens, outputTokens: completion.usage!.completion_tokens, cachedInputTokens: 0, toolCalls: 0, usageKnown: true, status: 200, refusal: null });
    expect(stream).toMatchObject({ route: '/v1/chat/completions', model: 'gpt-4o', outputTokens: 20, usageKnown: true, status: 200 });
    expect(embedding).toMatchObject({ route: '/v1/embeddings', requestedModel: 'text-embedding-3-small', model: 'text-embedding-3-small', outputTokens: 0, status: 200 });
    expect(refusal).toMatchObject({ user: 'alice', requestedModel: 'gpt-4o', model: null, degradeStep: null, inputTokens: 0, outputTokens: 0, costNanoUsd: 0, usageKnown: null, status: 429, refusal: 'rpm' });
    expect(anthropic).toMatchObject({ user: 'bob', key: 'bob-key', route: '/v1/messages', model: 'claude-haiku-4-5', inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens, status: 200 });
    // Exactly what the counters charged, each user's rows to the nano-dollar.
    const spent = async (user: string) => nano((await usedOf(gateway.policy.limiter, { user }))['daily-usd']!);
    const sum = (user: string) => rows.filter((r) => r.user === user).reduce((total, r) => total + r.costNanoUsd, 0);
    expect(sum('alice')).toBe(await spent('alice'));
    expect(sum('bob')).toBe(await spent('bob'));
    expect(json!.costNanoUsd).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(5);
    for (const r of rows) {
      expect(r.time).toBeGreaterThanOrEqual(started);
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
      expect(r.costUsd).toBe(r.costNanoUsd / 1e9);
    }
  });

  it("keeps the reasoning part of a reasoning model's output, JSON or streamed", async () => {
    const upstream = await startHostileUpstream({ behaviour: 'honest' });
    afterTest(() => upstream.close());
    const gateway = await gatewayWith(writeConfig(undefined, { upstream: upstream.url }));
    const openai = client(gateway, 'sk-test-bob');

    await openai.chat.completions.create({ model: 'o3', messages: HELLO, max_completion_tokens: 300 });
    for await (const _ of await openai.chat.completions.create({ model: 'o3', messages: HELLO, max_completion_tokens: 200, stream: true }));

    const rows = await rowsWhen(gateway, 2);
    const billed = upstream.billed.map((call) => call.reasoningTokens).reverse();
    expect(billed.every((tokens) => tokens > 0)).toBe(true);
    expect(rows.map((row) => row.reasoningTokens)).toEqual(billed);
  });

  it('says 499 for a stream the client cut off, charged what the counters kept for it, and names the refusals the gateway makes itself', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY, { chunkDelayMs: 200 }));
    const openai = client(gateway, 'sk-test-alice');
    const abort = new AbortController();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 200, stream: true }, { signal: abort.signal });
    for await (const _ of stream) break;
    abort.abort();
    // bob's tier has no ladder to put a priced model in its place.
    const unpriced = await client(gateway, 'sk-test-bob').chat.completions.create({ model: 'house-model', messages: HELLO }).catch((error: unknown) => error);

    expect(unpriced).toBeInstanceOf(OpenAI.BadRequestError);
    const [refused, cut] = await rowsWhen(gateway, 2);
    const used = await eventually(() => usedOf(gateway.policy.limiter, { user: 'alice' }), (u) => u.inflight === 0);
    expect(cut).toMatchObject({ status: 499, usageKnown: false, costNanoUsd: nano(used['daily-usd']!) });
    expect(cut!.costNanoUsd).toBeGreaterThan(0);
    expect(refused).toMatchObject({ user: 'bob', status: 400, requestedModel: 'house-model', costNanoUsd: 0, refusal: 'model_not_priced' });
  });

  it('writes the rows of the streams its own stop cuts off before it closes: a restart finds them, and the counters agree', async () => {
    const file = writeConfig(POLICY, { chunkDelayMs: 200 });
    const gateway = await gatewayWith(file);
    const stream = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 200, stream: true });
    for await (const _ of stream) break;

    await gateway.close();
    const restarted = await gatewayWith(file);

    const [cut] = (await spend(restarted)).body.rows;
    expect(cut).toMatchObject({ user: 'alice', status: 499, usageKnown: false });
    expect(cut!.costNanoUsd).toBe(nano((await usedOf(restarted.policy.limiter, { user: 'alice' }))['daily-usd']!));
  });

  it('fails no request when the ledger cannot be written: the failure is logged and counted, and the rows are written once it can be', async () => {
    const log = logLines();
    const gateway = await gatewayWith(writeConfig(POLICY, { logLevel: 'error' }), { logStream: log.stream });
    // The ledger's table is gone from under it: its writes fail until it is back.
    new Database(sqlitePath(gateway)).exec('DROP TABLE gateway_spend_ledger').close();

    const completion = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 10 });

    expect(completion.choices[0]!.message.content).toBeTruthy();
    const failed = await eventually(async () => log.lines.find((line) => line.msg === 'writing the spend ledger failed; its rows are kept for the next write'), (line) => line !== undefined);
    expect(failed).toMatchObject({ rows: 1 });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(Number(/^tollgate_ledger_write_failures_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    // Creating the table again (as a start does) lets the kept row through.
    await sqliteLedger(sqlitePath(gateway)).close();
    const [kept] = await rowsWhen(gateway, 1);
    expect(kept).toMatchObject({ user: 'alice', status: 200, outputTokens: 10 });
  });

  it('deletes rows past the retention in the background, and keeps the others', async () => {
    const file = writeConfig(`ledger: { retentionDays: 30 }\n${POLICY}`);
    const first = await gatewayWith(file);
    const path = sqlitePath(first);
    await first.close();
    const seeded = sqliteLedger(path);
    await seeded.append([row(Date.now() - 40 * DAY_MS, 'forty-days-old'), row(Date.now() - 10 * DAY_MS, 'ten-days-old')]);
    await seeded.close();

    const gateway = await gatewayWith(file);

    const rows = await rowsWhen(gateway, 1);
    expect(rows.map((r) => r.requestId)).toEqual(['ten-days-old']);
  });
});
