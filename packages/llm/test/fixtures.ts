/**
 * Response and stream shapes as the providers document them (OpenAI Chat Completions and Responses,
 * Anthropic Messages, the Vercel AI SDK's results), written out by hand with realistic ids and counts.
 */

export const CHAT_COMPLETION = {
  id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
  object: 'chat.completion',
  created: 1741570283,
  model: 'gpt-4o-2024-08-06',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'The image shows a wooden boardwalk through a lush green marshland.', refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 1200,
    completion_tokens: 800,
    total_tokens: 2000,
    prompt_tokens_details: { cached_tokens: 1000, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_fc9f1d7035',
};

const chunk = (delta: object, finish: string | null = null, usage: object | null = null) => ({
  id: 'chatcmpl-123',
  object: 'chat.completion.chunk',
  created: 1694268190,
  model: 'gpt-4o-mini-2024-07-18',
  system_fingerprint: 'fp_44709d6fcb',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  usage,
});

/** A chat stream with `stream_options: { include_usage: true }`: the last chunk has no choices and the usage. */
export const CHAT_CHUNKS = [
  chunk({ role: 'assistant', content: '', refusal: null }),
  chunk({ content: 'Hello' }),
  chunk({ content: ' there' }),
  chunk({ content: ', how can I help?' }),
  chunk({}, 'stop'),
  {
    id: 'chatcmpl-123',
    object: 'chat.completion.chunk',
    created: 1694268190,
    model: 'gpt-4o-mini-2024-07-18',
    system_fingerprint: 'fp_44709d6fcb',
    choices: [],
    usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
  },
];

/** A chat stream calling a tool, cut off before it ended. */
export const CHAT_TOOL_CHUNKS_CUT = [
  chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
];

export const RESPONSE = {
  id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
  object: 'response',
  created_at: 1741476542,
  status: 'completed',
  model: 'gpt-4.1-2025-04-14',
  output: [
    {
      type: 'message',
      id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.', annotations: [] }],
    },
  ],
  usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 123 },
};

const inProgress = { id: 'resp_1', object: 'response', created_at: 1741290958, status: 'in_progress', model: 'gpt-4.1-2025-04-14', output: [], usage: null };

/** A Responses stream: `response.created`, text deltas, then `response.completed` with the usage. */
export const RESPONSE_EVENTS = [
  { type: 'response.created', sequence_number: 0, response: inProgress },
  { type: 'response.in_progress', sequence_number: 1, response: inProgress },
  { type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] } },
  { type: 'response.output_text.delta', sequence_number: 3, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' },
  { type: 'response.output_text.delta', sequence_number: 4, item_id: 'msg_1', output_index: 0, content_index: 0, delta: ' there!' },
  { type: 'response.output_text.done', sequence_number: 5, item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Hi there!' },
  {
    type: 'response.completed',
    sequence_number: 6,
    response: { ...inProgress, status: 'completed', usage: { input_tokens: 37, input_tokens_details: { cached_tokens: 0 }, output_tokens: 11, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 48 } },
  },
];

/** An Anthropic message that wrote 4,735 tokens to the prompt cache. */
export const MESSAGE = {
  id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hi! My name is Claude.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 100,
    cache_creation_input_tokens: 4735,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 4735, ephemeral_1h_input_tokens: 0 },
    output_tokens: 255,
    service_tier: 'standard',
  },
};

/** An Anthropic stream: `message_start` has the input, `message_delta` the cumulative output. */
export const MESSAGE_EVENTS = [
  {
    type: 'message_start',
    message: {
      id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-sonnet-4-5-20250929',
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 2000, output_tokens: 1 },
    },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'ping' },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '! How can I help you today?' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 15 } },
  { type: 'message_stop' },
];

/** AI SDK 6 `generateText` result of two steps (a tool call, then the answer). */
export const AI_SDK_RESULT = {
  text: 'It is 18°C in Paris.',
  response: { id: 'resp-2', modelId: 'gpt-4o-mini-2024-07-18', timestamp: new Date(0) },
  usage: { inputTokens: 300, inputTokenDetails: { noCacheTokens: 300, cacheReadTokens: 0, cacheWriteTokens: 0 }, outputTokens: 20, outputTokenDetails: { textTokens: 20, reasoningTokens: 0 }, totalTokens: 320 },
  totalUsage: { inputTokens: 500, inputTokenDetails: { noCacheTokens: 500, cacheReadTokens: 0, cacheWriteTokens: 0 }, outputTokens: 60, outputTokenDetails: { textTokens: 60, reasoningTokens: 0 }, totalTokens: 560 },
  steps: [
    {
      response: { id: 'resp-1', modelId: 'gpt-4o-2024-08-06' },
      usage: { inputTokens: 200, inputTokenDetails: { noCacheTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0 }, outputTokens: 40, outputTokenDetails: { textTokens: 40, reasoningTokens: 0 }, totalTokens: 240 },
    },
    {
      response: { id: 'resp-2', modelId: 'gpt-4o-mini-2024-07-18' },
      usage: { inputTokens: 300, inputTokenDetails: { noCacheTokens: 300, cacheReadTokens: 0, cacheWriteTokens: 0 }, outputTokens: 20, outputTokenDetails: { textTokens: 20, reasoningTokens: 0 }, totalTokens: 320 },
    },
  ],
};

/** Server-sent events as the providers frame them: OpenAI `data:` only (and `[DONE]`), the others with `event:`. */
export function sse(events: readonly object[], format: 'openai-chat' | 'named'): string {
  if (format === 'openai-chat') return `${events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('')}data: [DONE]\n\n`;
  return events.map((event) => `event: ${(event as { type: string }).type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}
