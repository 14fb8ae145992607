/**
 * The adversarial budget scenario that the gateway's budget suite (test/budget.test.ts) and
 * `pnpm bench budget` share: a hundred agents of one user, each the official `openai` client
 * without retries, spend at once against a $1 daily budget through the real gateway (on SQLite or
 * Redis), in front of a hostile upstream that misbehaves one way per scenario. It reports what the
 * budget charged and what the upstream billed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unitsToUsd, usdToUnits } from '@tollgate/core';
import { costOf } from '@tollgate/llm';
import { MISBEHAVIOURS, startHostileUpstream, type Misbehaviour } from '@tollgate/test-kit/hostile-upstream';
import { eventually } from '@tollgate/test-kit/poll';
import OpenAI from 'openai';
import { loadConfig } from '../src/config/load.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';

/** How the upstream misbehaves, or `client-cut`: an honest one whose streams every client aborts a few hundred ms in. */
export type Behaviour = Misbehaviour | 'client-cut';

export interface BudgetScenario {
  readonly behaviour: Behaviour;
  /** Whether the tier has a degradation ladder (o3, then o4-mini as the budget fills). */
  readonly ladder: boolean;
}

/** Every scenario: each behaviour on a tier with and without a ladder. */
export const SCENARIOS: readonly BudgetScenario[] = [...MISBEHAVIOURS, 'client-cut' as const].flatMap((behaviour) => [false, true].map((ladder) => ({ behaviour, ladder })));

/**
 * The upstreams that do not honour the cap they are sent (one generates more, one reports more):
 * the one exception to the guarantee, where spend may pass the budget by their overrun.
 */
export const IGNORES_CAP: readonly Behaviour[] = ['ignore-cap', 'over-report'];

export const BUDGET_USD = 1;
export const AGENTS = 100;
/** Calls each agent tries in turn; it stops at its first refusal. */
const CALLS_PER_AGENT = 3;
/** A reasoning model with a real price: its hidden reasoning is billed whether or not anyone sees it. */
const MODEL = 'o3';
/** What agents that set a cap ask for; the others set none, and the gateway sends its default. */
const AGENT_CAP = 2000;
/** Slow enough that a stream is still running when the client aborts it. */
const CUT_STREAM_DELAY_MS = 100;
/** How long into its answer a client leaves. */
const CUT_AFTER_MS = 350;
const DELAY_MS = 5;

/** Where the gateway counts: an SQLite file in a fresh folder, or a running Redis. */
export type StoreTarget = { readonly kind: 'sqlite' } | { readonly kind: 'redis'; readonly url: string };

export interface BudgetFigures {
  readonly scenario: BudgetScenario;
  readonly budgetUsd: number;
  /** What the budget charged: the cost limit's `used` once every call has settled. */
  readonly chargedUsd: number;
  /** What the upstream billed, priced under the model the gateway asked for. */
  readonly billedUsd: number;
  /** Calls the upstream billed. */
  readonly calls: number;
  /** Requests the budget refused. */
  readonly refused: number;
  /** Calls the gateway counted in `tollgate_overruns_total`. */
  readonly overruns: number;
  /** Whether a request made after the run was refused. */
  readonly nextRefused: boolean;
}

const tier = (ladder: boolean) => `
tiers:
  agents:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 100000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: ${BUDGET_USD}, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 100000 }
${ladder ? `    degrade:
      budget: daily-usd
      steps:
        - { below: 0.5, model: ${MODEL}, maxTokens: 4000 }
        - { model: o4-mini, maxTokens: 1000 }` : ''}`;

/** The gateway's configuration for one run: one user (a fresh id, so runs can share a Redis) with one key. */
function config(dir: string, store: StoreTarget, upstream: string, user: string, ladder: boolean): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }
logLevel: silent
store: ${store.kind === 'sqlite' ? 'sqlite' : store.url}
dataDir: ${JSON.stringify(dir)}
upstream: { baseUrl: "${upstream}" }
${tier(ladder)}
users:
  ${user}: { tier: agents }
keys:
  sk-agents-${user}: { user: ${user}, name: agents }
`);
  return file;
}

interface Tally {
  refused: number;
}

/** One agent's call: half the agents stream, half set a cap; under `client-cut` every call is a stream the client aborts. */
async function call(openai: OpenAI, agent: number, behaviour: Behaviour): Promise<void> {
  const cut = behaviour === 'client-cut';
  const body = { model: MODEL, messages: [{ role: 'user' as const, content: `Agent ${agent}: plan the next step, think it through.` }], ...(agent % 4 >= 2 && { max_completion_tokens: AGENT_CAP }) };
  if (!cut && agent % 2 === 0) {
    await openai.chat.completions.create(body);
    return;
  }
  const abort = new AbortController();
  const stream = await openai.chat.completions.create({ ...body, stream: true }, { signal: abort.signal });
  // Timed from the answer's start, not the request's: on a busy machine a request may wait longer
  // than that to be decided, and would then leave before anything was reserved or billed.
  const timer = cut ? setTimeout(() => abort.abort(), CUT_AFTER_MS) : undefined;
  try {
    for await (const _ of stream);
  } finally {
    clearTimeout(timer);
  }
}

/** An agent: its calls in turn, until the budget refuses one. Other failures (a cut answer) do not stop it. */
async function agent(openai: OpenAI, index: number, behaviour: Behaviour, tally: Tally): Promise<void> {
  for (let i = 0; i < CALLS_PER_AGENT; i++) {
    try {
      await call(openai, index, behaviour);
    } catch (error) {
      if (!(error instanceof OpenAI.RateLimitError)) continue;
      tally.refused++;
      return;
    }
  }
}

async function overrunsCounted(gateway: RunningGateway): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(/^tollgate_overruns_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** What the upstream billed, summed exactly in nano-dollars. */
function billedUsd(billed: ReadonlyArray<{ model: string; inputTokens: number; outputTokens: number }>): number {
  return unitsToUsd(billed.reduce((units, bill) => units + usdToUnits(costOf(bill.model, bill)), 0));
}

/** Runs one scenario on a fresh gateway and upstream, and stops them. */
export async function runBudgetScenario(store: StoreTarget, scenario: BudgetScenario): Promise<BudgetFigures> {
  const { behaviour, ladder } = scenario;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-budget-'));
  const upstream = await startHostileUpstream({ behaviour: behaviour === 'client-cut' ? 'honest' : behaviour, delayMs: behaviour === 'client-cut' ? CUT_STREAM_DELAY_MS : DELAY_MS });
  const user = `agents-${randomBytes(4).toString('hex')}`;
  let gateway: RunningGateway | undefined;
  try {
    gateway = await startGateway(loadConfig(config(dir, store, upstream.url, user, ladder), {}), { env: {}, watch: false });
    const openai = new OpenAI({ apiKey: `sk-agents-${user}`, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const tally: Tally = { refused: 0 };
    await Promise.all(Array.from({ length: AGENTS }, (_, index) => agent(openai, index, behaviour, tally)));
    // Leases are released after their responses: wait until none is in flight. (The usage is read
    // here, not with test-kit's usedOf, whose module imports vitest: the benchmarks run this file.)
    const { limiter } = gateway.policy;
    const usage = async () => Object.fromEntries((await limiter.usage({ user, apiKey: 'agents' })).map((state) => [state.name, state.used]));
    const used = await eventually(usage, (u) => u['inflight'] === 0, 10_000);
    const figures = { scenario, budgetUsd: BUDGET_USD, chargedUsd: used['daily-usd']!, billedUsd: billedUsd(upstream.billed), calls: upstream.billed.length, refused: tally.refused, overruns: await overrunsCounted(gateway) };
    const next = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'One more?' }], max_completion_tokens: AGENT_CAP }).then(() => false, (error: unknown) => error instanceof OpenAI.RateLimitError);
    return { ...figures, nextRefused: next };
  } finally {
    await gateway?.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
