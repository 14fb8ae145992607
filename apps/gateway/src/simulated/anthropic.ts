import { estimateAnthropicMessage } from '@tollgate/llm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { anthropicError } from '../proxy/errors.js';
import { hash, simulatedReply } from './reply.js';
import { headersOf, sleep } from './requests.js';

/** The Claude models the simulated upstream serves: every one has a price in genai-prices. */
export const SIMULATED_CLAUDE_MODELS = ['claude-sonnet-4-6', 'claude-opus-4-7', 'claude-haiku-4-5'] as const;

interface MessageBody {
  model?: unknown;
  max_tokens?: unknown;
  system?: unknown;
  messages?: unknown;
  stream?: unknown;
}

export interface AnthropicMessagesOptions {
  /** Milliseconds between streamed events of text. */
  chunkDelayMs: number;
  onRequest?: (body: Record<string, unknown>, headers: Headers) => void;
  /** The number of the request being answered, for its message id. */
  id(): number;
}

/**
 * `POST /v1/messages` as Anthropic's API answers it: a message, or its stream of events
 * (`message_start` with the input's usage, the text block's deltas, `message_delta` with the
 * output's), with the reply's tokens counted for the model and `max_tokens` honoured (it is
 * required, as upstream), and prompt caching as Anthropic reports it (see `PromptCache`);
 * `POST /v1/messages/count_tokens` counts a request's input.
 */
export function anthropicMessages(app: FastifyInstance, options: AnthropicMessagesOptions): void {
  const promptCache = new PromptCache();
  app.post('/v1/messages', async (request: FastifyRequest<{ Body: MessageBody }>, reply) => {
    const body = request.body;
    options.onRequest?.(body as Record<string, unknown>, headersOf(request));
    if (typeof body?.model !== 'string' || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number') {
      return reply.code(400).send(anthropicError(400, 'The request needs a model (a string), messages (a list) and max_tokens (a number).'));
    }
    const model = body.model;
    if (!(SIMULATED_CLAUDE_MODELS as readonly string[]).includes(model)) return reply.code(404).send(anthropicError(404, `model: ${model}`));
    const inputTokens = (await estimateAnthropicMessage(body)).inputTokens;
    const cache = await promptCache.use(body, model);
    const answer = await simulatedReply(JSON.stringify([body.system, body.messages]), model, body.max_tokens);
    const stopReason = answer.finishReason === 'length' ? 'max_tokens' : 'end_turn';
    const usage = { input_tokens: Math.max(0, inputTokens - cache.written - cache.read), cache_creation_input_tokens: cache.written, cache_read_input_tokens: cache.read, output_tokens: answer.tokens };
    const message = { id: `msg_sim${options.id()}`, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: answer.text }], stop_reason: stopReason, stop_sequence: null, usage };
    if (body.stream !== true) return message;
    return streamMessage(reply, message, answer.pieces, options.chunkDelayMs);
  });

  app.post('/v1/messages/count_tokens', async (request: FastifyRequest<{ Body: MessageBody }>, reply) => {
    const body = request.body;
    if (typeof body?.model !== 'string' || !Array.isArray(body.messages)) return reply.code(400).send(anthropicError(400, 'The request needs a model (a string) and messages (a list).'));
    return { input_tokens: (await estimateAnthropicMessage({ ...body, max_tokens: 1 })).inputTokens };
  });
}

/** Writes a message as Anthropic streams it: its start (with the input's usage), one text block in deltas, and its end (with the output's). */
async function streamMessage(reply: FastifyReply, message: { usage: Record<string, number>; stop_reason: string } & Record<string, unknown>, pieces: string[], delayMs: number): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (type: string, fields: Record<string, unknown> = {}) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`);
  // Anthropic's start reports the output so far (a token) and its end the whole output.
  send('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } } });
  send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  send('ping');
  for (const piece of pieces) {
    if (res.destroyed) return;
    await sleep(delayMs);
    send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } });
  }
  send('content_block_stop', { index: 0 });
  send('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: message.usage.output_tokens } });
  send('message_stop');
  res.end();
}

type Json = Record<string, unknown>;

/** Prefixes the simulated cache keeps; past that, it starts afresh (Anthropic's entries expire after minutes anyway). */
const CACHE_ENTRIES = 10_000;

/**
 * Anthropic's prompt caching, simulated: the prompt up to its last `cache_control` breakpoint (in
 * `system` or a message's content) is written to the cache the first time it is sent
 * (`cache_creation_input_tokens`) and read from it after (`cache_read_input_tokens`); the input
 * after it is `input_tokens`. Tools are not taken as breakpoints.
 */
class PromptCache {
  private readonly prefixes = new Set<number>();

  async use(body: MessageBody, model: string): Promise<{ written: number; read: number }> {
    const prefix = cachedPrefix(body);
    if (prefix === undefined) return { written: 0, read: 0 };
    const tokens = (await estimateAnthropicMessage({ model, max_tokens: 1, ...prefix })).inputTokens;
    const key = hash(JSON.stringify(prefix));
    if (this.prefixes.has(key)) return { written: 0, read: tokens };
    if (this.prefixes.size >= CACHE_ENTRIES) this.prefixes.clear();
    this.prefixes.add(key);
    return { written: tokens, read: 0 };
  }
}

const marked = (block: unknown) => typeof block === 'object' && block !== null && (block as Json).cache_control !== undefined;

/** The index of the last block of `blocks` with `cache_control`, or -1. */
function lastMarked(blocks: unknown[]): number {
  for (let i = blocks.length - 1; i >= 0; i--) if (marked(blocks[i])) return i;
  return -1;
}

/** The system blocks and messages up to (and including) the last block with `cache_control`, or `undefined` without one. */
function cachedPrefix(body: MessageBody): { system?: unknown[]; messages: unknown[] } | undefined {
  const messages = body.messages as Json[];
  for (let m = messages.length - 1; m >= 0; m--) {
    const content = messages[m]?.content;
    const last = Array.isArray(content) ? lastMarked(content) : -1;
    if (last >= 0) return { ...(Array.isArray(body.system) && { system: body.system }), messages: [...messages.slice(0, m), { ...messages[m], content: (content as unknown[]).slice(0, last + 1) }] };
  }
  const system = Array.isArray(body.system) ? body.system : [];
  const last = lastMarked(system);
  return last >= 0 ? { system: system.slice(0, last + 1), messages: [] } : undefined;
}
