/**
 * The tool loop the AI SDK middleware's tests run: a loopback provider's answers (a call of the
 * `weather` tool, then the answer once the tool's result is sent; JSON or streamed), each step's
 * usage, and what the middleware records for it.
 */
import { genaiPrices } from '../src/index.js';
import type { Reply } from './provider.js';

type Json = Record<string, any>;

const prices = genaiPrices();

export const MODEL = 'gpt-4o';
/** What the provider says it served: the usage is priced at this model. */
export const SERVED = 'gpt-4o-2024-08-06';
/** gpt-4o's default cap: the estimate's default output, below the model's maximum. */
export const DEFAULT_CAP = 4096;

/** The calls' usages, one per step: input (cached part), output (reasoning part). */
export const STEP_USAGE = [
  { prompt: 120, cached: 64, completion: 40, reasoning: 16 },
  { prompt: 180, cached: 0, completion: 12, reasoning: 0 },
];

export function usageOf(step: (typeof STEP_USAGE)[number]) {
  return {
    prompt_tokens: step.prompt,
    completion_tokens: step.completion,
    total_tokens: step.prompt + step.completion,
    prompt_tokens_details: { cached_tokens: step.cached },
    completion_tokens_details: { reasoning_tokens: step.reasoning },
  };
}

/** Whether the request already carries the tool's result: the loop's second step. */
export const answered = (body: Json) => body.messages.some((message: Json) => message.role === 'tool');

export const TOOL_CALL = { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } };

/** A chat completion: a call of the `weather` tool on the first step, the answer on the second. */
export function completion(body: Json): Reply {
  const second = answered(body);
  const message = second ? { role: 'assistant', content: 'Sunny in Paris.' } : { role: 'assistant', content: null, tool_calls: [TOOL_CALL] };
  return {
    json: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1764979200,
      model: SERVED,
      choices: [{ index: 0, message, finish_reason: second ? 'stop' : 'tool_calls' }],
      usage: usageOf(STEP_USAGE[second ? 1 : 0]!),
    },
  };
}

/** The same, streamed; `usage: false` leaves the usage chunk out. */
export function chunks(body: Json, usage = true): Reply {
  const second = answered(body);
  const base = { id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1764979200, model: SERVED };
  const delta = (d: Json, finish: string | null = null) => ({ ...base, choices: [{ index: 0, delta: d, finish_reason: finish }] });
  const events: object[] = second
    ? [delta({ role: 'assistant', content: '' }), delta({ content: 'Sunny' }), delta({ content: ' in Paris.' }), delta({}, 'stop')]
    : [delta({ role: 'assistant', tool_calls: [{ index: 0, ...TOOL_CALL }] }), delta({}, 'tool_calls')];
  if (usage) events.push({ ...base, choices: [], usage: usageOf(STEP_USAGE[second ? 1 : 0]!) });
  return { events };
}

/** The provider answering the tool loop, streamed or not as asked. */
export const toolLoop = (_path: string, body: Json): Reply => (body.stream ? chunks(body) : completion(body));

/** What each step records: the provider's usage as reported, priced at the served model. */
export const recorded = STEP_USAGE.map((step) => ({
  model: SERVED,
  inputTokens: step.prompt,
  outputTokens: step.completion,
  ...(step.cached > 0 && { cachedInputTokens: step.cached }),
  ...(step.reasoning > 0 && { reasoningTokens: step.reasoning }),
  cost: prices.costOf(SERVED, { inputTokens: step.prompt, outputTokens: step.completion, cachedInputTokens: step.cached }),
}));

export const TOTAL_TOKENS = STEP_USAGE.reduce((sum, step) => sum + step.prompt + step.completion, 0);
