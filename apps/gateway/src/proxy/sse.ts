import { sseParser } from '@tollgate/llm';

/**
 * A chunk as a client that did not ask for usage would get it: `undefined` for the usage-only chunk
 * `stream_options.include_usage` adds at the end, and without the `"usage": null` it adds to every
 * other chunk. Anything else (`[DONE]`, text that is not JSON) passes as it is.
 */
function withoutUsage(data: string): string | undefined {
  if (!data.startsWith('{')) return data;
  let chunk: { choices?: unknown; usage?: unknown };
  try {
    chunk = JSON.parse(data) as typeof chunk;
  } catch {
    return data;
  }
  if (chunk.usage === null) {
    delete chunk.usage;
    return JSON.stringify(chunk);
  }
  const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0 && typeof chunk.usage === 'object';
  return usageOnly ? undefined : data;
}

/**
 * Removes what `stream_options.include_usage` adds to a chat completion stream, for a client that
 * did not ask for it (the gateway asks the upstream for it so that it can meter the stream). Events are
 * passed on as `event:`/`data:` lines; comments and `id:`/`retry:` fields, which OpenAI-compatible
 * APIs do not send, are dropped.
 */
export function hideInjectedUsage(): TransformStream<Uint8Array, Uint8Array> {
  const parser = sseParser();
  const encoder = new TextEncoder();
  const forward = (events: ReturnType<typeof parser.push>, controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const { event, data } of events) {
      const kept = withoutUsage(data);
      if (kept === undefined) continue;
      const lines = kept.split('\n').map((line) => `data: ${line}\n`).join('');
      controller.enqueue(encoder.encode(`${event === undefined ? '' : `event: ${event}\n`}${lines}\n`));
    }
  };
  return new TransformStream({
    transform: (chunk, controller) => forward(parser.push(chunk), controller),
    flush: (controller) => forward(parser.end(), controller),
  });
}
