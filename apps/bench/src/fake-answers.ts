/**
 * What the fake upstream answers (`fake-upstream.ts`): an OpenAI chat completion with fixed text
 * and usage, as JSON or as the events of a stream of `STREAM_CHUNKS` content chunks.
 */

/** Content chunks per streamed answer. */
export const STREAM_CHUNKS = 10;

const USAGE = { prompt_tokens: 20, completion_tokens: STREAM_CHUNKS, total_tokens: 20 + STREAM_CHUNKS };
const BASE = { id: 'chatcmpl-fake', created: 1_767_225_600, system_fingerprint: 'fp_fake' };

export function completion(model: string): string {
  const message = { role: 'assistant', content: ' word'.repeat(STREAM_CHUNKS).trim(), refusal: null };
  return JSON.stringify({ ...BASE, object: 'chat.completion', model, choices: [{ index: 0, message, logprobs: null, finish_reason: 'stop' }], usage: USAGE });
}

/** Every chunk of one stream, in one string: written at once, as a fast upstream's socket would deliver it. */
export function stream(model: string, includeUsage: boolean): string {
  return streamEvents(model, includeUsage).join('');
}

/** The events of one stream, one string each (`data: …` and its blank line), `[DONE]` last. */
export function streamEvents(model: string, includeUsage: boolean): string[] {
  const chunk = (choices: unknown[], extra: object = {}) =>
    `data: ${JSON.stringify({ ...BASE, object: 'chat.completion.chunk', model, choices, ...(includeUsage && { usage: null }), ...extra })}\n\n`;
  const delta = (content: object, finish: string | null = null) => [{ index: 0, delta: content, logprobs: null, finish_reason: finish }];
  const events = [chunk(delta({ role: 'assistant', content: '' }))];
  for (let i = 0; i < STREAM_CHUNKS; i++) events.push(chunk(delta({ content: i === 0 ? 'word' : ' word' })));
  events.push(chunk(delta({}, 'stop')));
  if (includeUsage) events.push(chunk([], { usage: USAGE }));
  events.push('data: [DONE]\n\n');
  return events;
}
