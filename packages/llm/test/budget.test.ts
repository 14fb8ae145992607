/**
 * Hard budgets against a hostile provider: 100 agents at once spend one $1 daily budget through the
 * real `openai` and `@anthropic-ai/sdk` clients (wrapped, or over `meteredFetch`) and through a
 * plain lease, while the provider cuts streams, renames models, loses or garbles its usage, ignores
 * the cap or over-reports. Whenever it honours the cap it was sent, spend stays within the budget;
 * whatever it does, what is charged is never below what it billed.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createLimiter, type Limiter, type Usage } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { MISBEHAVIOURS, startHostileUpstream, type HostileUpstream, type Misbehaviour } from '@tollgate/test-kit/hostile-upstream';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { costOf } from '../src/prices.js';
import {
  estimateChatCompletion,
  genaiPrices,
  LlmRefusedError,
  meteredFetch,
  meterEventStream,
  openaiChatUsage,
  withOutputCap,
  wrapAnthropic,
  wrapOpenAI,
} from '../src/index.js';

const BUDGET = 1;
const AGENTS = 100;
/** Calls one agent makes at most: it stops at the first refusal, and retries a call the provider failed. */
const CALLS = 3;
const prices = genaiPrices();
const team = { user: 'team' };

let upstream: HostileUpstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

/** The $1 budget every agent shares; past half of it, the ladder lowers the cap (and the model, when given one). */
function sharedBudget(cheaperModel?: string): Limiter {
  return createLimiter({
    store: new MemoryStore(),
    limits: [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: BUDGET, reset: { every: 'day' } }],
    degrade: { budget: 'daily-usd', steps: [{ below: 0.5 }, { ...(cheaperModel && { model: cheaperModel }), maxTokens: 1_000 }] },
    prices,
  });
}

/** A prompt of ordinary words, so that the provider's word count stays below every token count. */
const prompt = (agent: number) => `Agent ${agent} here: please summarise the quarterly report and list the three largest risks.`;

/** Whether the provider's failures (dropped connections) are part of its behaviour, not a bug here. */
const dropsConnections = (behaviour: Misbehaviour) => behaviour === 'cut-reasoning' || behaviour === 'fail-mid-stream';

/**
 * Runs every agent at once; each calls until the budget refuses it. Returns how many were refused,
 * so a test can check that the budget was contested at all.
 */
async function runAgents(behaviour: Misbehaviour, call: (agent: number, attempt: number) => Promise<void>): Promise<number> {
  let refused = 0;
  await Promise.all(
    Array.from({ length: AGENTS }, async (_, agent) => {
      for (let attempt = 0; attempt < CALLS; attempt++) {
        try {
          await call(agent, attempt);
        } catch (error) {
          // Under an SDK, meteredFetch's refusal arrives as the SDK's own rate-limit error (a 429).
          if (error instanceof LlmRefusedError || (error as { status?: unknown }).status === 429) {
            refused++;
            return;
          }
          if (!dropsConnections(behaviour)) throw error;
        }
      }
    }),
  );
  return refused;
}

/** What the provider billed, priced as the model asked for, in USD (summed in nano-dollars, as core sums). */
function billedUsd(provider: HostileUpstream): number {
  const units = provider.billed.reduce((sum, call) => sum + Math.round(costOf(call.model, { inputTokens: call.inputTokens, outputTokens: call.outputTokens }) * 1e9), 0);
  return units / 1e9;
}

/**
 * Charged is never below billed; spend is within the budget whenever every call carried a cap and
 * was billed within it. Every path (streamed and not) must have been billed, and some agent
 * refused, or the run proved nothing.
 */
async function expectBudgetHeld(limiter: Limiter, provider: HostileUpstream, behaviour: Misbehaviour, refused: number, paths: string[]): Promise<void> {
  const spent = (await limiter.usage(team)).find((state) => state.name === 'daily-usd')!.used;
  const billed = billedUsd(provider);
  expect(new Set(provider.billed.map((call) => `${call.path} ${call.stream ? 'stream' : 'json'}`))).toEqual(new Set(paths.flatMap((path) => [`${path} stream`, `${path} json`])));
  expect(refused, 'the budget was contested').toBeGreaterThan(0);
  expect(spent, `charged $${spent}, billed $${billed}`).toBeGreaterThanOrEqual(billed);
  const honoured = provider.billed.every((call) => call.cap !== undefined && call.outputTokens <= call.cap);
  expect(honoured, 'every call was sent a cap, and the bill stayed within it').toBe(behaviour !== 'ignore-cap' && behaviour !== 'over-report');
  if (honoured) expect(spent).toBeLessThanOrEqual(BUDGET);
}

/** The provider's malformed usage goes to `onError`, as it should; here it is expected. */
const swallow = () => undefined;
const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';

describe.each(MISBEHAVIOURS)('100 agents on one 1-USD budget, an upstream that is %s', (behaviour) => {
  it('wrapOpenAI, per call, streamed and not', async () => {
    upstream = await startHostileUpstream({ behaviour });
    const limiter = sharedBudget('o4-mini');
    const openai = wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: upstream.url, maxRetries: 0 }), { limiter, identity: team, prices, onError: swallow });
    const refused = await runAgents(behaviour, async (agent, attempt) => {
      const body = { model: 'o3', messages: [{ role: 'user' as const, content: prompt(agent) }] };
      if ((agent + attempt) % 2 === 0) {
        for await (const _chunk of await openai.chat.completions.create({ ...body, stream: true })) void _chunk;
      } else {
        await openai.chat.completions.create(body);
      }
    });
    await expectBudgetHeld(limiter, upstream, behaviour, refused, [CHAT]);
  });

  it('wrapAnthropic, per call, streamed and not, with and without max_tokens', async () => {
    upstream = await startHostileUpstream({ behaviour });
    const limiter = sharedBudget('claude-haiku-4-5');
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: upstream.url.replace(/\/v1$/, ''), maxRetries: 0 });
    const anthropic = wrapAnthropic(client, { limiter, identity: team, prices, onError: swallow });
    const refused = await runAgents(behaviour, async (agent, attempt) => {
      // Half the agents leave max_tokens out: the wrapper sends the output it reserved.
      const body = { model: 'claude-sonnet-4.5', messages: [{ role: 'user' as const, content: prompt(agent) }], ...(agent % 2 === 0 && { max_tokens: 2_000 }) } as Anthropic.MessageCreateParamsNonStreaming;
      if ((agent + attempt) % 2 === 0) {
        for await (const _event of await anthropic.messages.create({ ...body, stream: true })) void _event;
      } else {
        await anthropic.messages.create(body);
      }
    });
    await expectBudgetHeld(limiter, upstream, behaviour, refused, [MESSAGES]);
  });

  it('meteredFetch under the openai SDK, per call', async () => {
    upstream = await startHostileUpstream({ behaviour });
    const limiter = sharedBudget();
    const fetch = meteredFetch({ limiter, identity: team, prices, onError: swallow });
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.url, maxRetries: 0, fetch });
    const refused = await runAgents(behaviour, async (agent, attempt) => {
      const body = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: prompt(agent) }] };
      if ((agent + attempt) % 2 === 0) {
        for await (const _chunk of await openai.chat.completions.create({ ...body, stream: true })) void _chunk;
      } else {
        await openai.chat.completions.create(body);
      }
    });
    await expectBudgetHeld(limiter, upstream, behaviour, refused, [CHAT]);
  });

  it('meteredFetch under the Anthropic SDK, per call', async () => {
    upstream = await startHostileUpstream({ behaviour });
    const limiter = sharedBudget();
    const fetch = meteredFetch({ limiter, identity: team, prices, onError: swallow });
    const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: upstream.url.replace(/\/v1$/, ''), maxRetries: 0, fetch });
    const refused = await runAgents(behaviour, async (agent, attempt) => {
      const body = { model: 'claude-sonnet-4.5', max_tokens: 3_000, messages: [{ role: 'user' as const, content: prompt(agent) }] };
      if ((agent + attempt) % 2 === 0) {
        for await (const _event of await anthropic.messages.create({ ...body, stream: true })) void _event;
      } else {
        await anthropic.messages.create(body);
      }
    });
    await expectBudgetHeld(limiter, upstream, behaviour, refused, [MESSAGES]);
  });

  it('a plain lease: estimate, acquire, send capped, record what is known, release', async () => {
    upstream = await startHostileUpstream({ behaviour });
    const provider = upstream;
    const limiter = sharedBudget();
    const refused = await runAgents(behaviour, async (agent, attempt) => {
      const asked = { model: 'gpt-4o', messages: [{ role: 'user', content: prompt(agent) }], stream: (agent + attempt) % 2 === 0 };
      const demand = await estimateChatCompletion(asked, { prices });
      const decision = await limiter.acquire(team, demand);
      if (!decision.allowed) throw new LlmRefusedError(decision);
      const { lease } = decision;
      // The output reserved is the cap sent: the provider cannot bill past the reservation.
      const body = withOutputCap(asked.stream ? { ...asked, stream_options: { include_usage: true } } : asked, 'openai-chat', demand.outputTokens);
      const known: Usage = { model: asked.model, inputTokens: demand.inputTokens };
      try {
        const response = await globalThis.fetch(`${provider.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (asked.stream) {
          const metered = meterEventStream(response.body!, 'openai-chat', { model: asked.model, inputTokens: demand.inputTokens, prices }, (usage, end) =>
            lease.record(usage, { partial: !end.complete }),
          );
          await new Response(metered).text();
          return;
        }
        let usage: Usage | undefined;
        try {
          usage = openaiChatUsage(await response.json(), { prices, model: asked.model });
        } catch {
          // A body cut off, or counts that are no counts: the usage is unknown.
        }
        await lease.record(usage ?? known, { partial: usage === undefined });
      } finally {
        // A connection dropped before anything was recorded: only the input is known.
        if (lease.totals.records === 0) await lease.record(known, { partial: true });
        await lease.release();
      }
    });
    await expectBudgetHeld(limiter, upstream, behaviour, refused, [CHAT]);
  });
});
