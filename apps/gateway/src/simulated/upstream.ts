import { randomBytes } from 'node:crypto';
import { estimateChatCompletion, estimateEmbeddings } from '@tollgate/llm';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { chatCompletions } from '../proxy/apis.js';
import { requestedMaxTokens } from '../proxy/degrade.js';
import { anthropicError, openAiError } from '../proxy/errors.js';
import { anthropicMessages } from './anthropic.js';
import { hash, simulatedReply } from './reply.js';
import { headersOf, sleep } from './requests.js';
import { responsesRoute } from './responses.js';

/** The models the simulated upstream serves: every one has a price in genai-prices. */
export const SIMULATED_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano'] as const;
/** The embedding models it serves (priced in genai-prices too). */
export const SIMULATED_EMBEDDING_MODELS = ['text-embedding-3-small', 'text-embedding-3-large'] as const;
/** The length of its embeddings unless a request asks for `dimensions`: short, since nothing reads them. */
const EMBEDDING_DIMENSIONS = 8;

/** Marks everything the simulated upstream answers. */
const SIMULATED_HEADER = 'x-simulated-upstream';

export interface SimulatedUpstream {
  /** Its OpenAI-style base URL (`http://127.0.0.1:<port>/v1`). */
  readonly baseUrl: string;
  /** The key it accepts (random per start: only this gateway calls it). */
  readonly apiKey: string;
  close(): Promise<void>;
}

export interface SimulatedUpstreamOptions {
  /** Milliseconds between streamed chunks. */
  chunkDelayMs: number;
  /** Sees each POSTed request's body and headers as they arrive (tests check what the gateway forwarded). */
  onRequest?: (body: Record<string, unknown>, headers: Headers) => void;
}

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
  n?: unknown;
}

interface EmbeddingsBody {
  model?: unknown;
  input?: unknown;
  dimensions?: unknown;
  encoding_format?: unknown;
}

/** OpenAI's 404 for a model a route does not serve, or `undefined` when it serves `model`. */
function unknownModel(reply: FastifyReply, model: string, served: readonly string[]): FastifyReply | undefined {
  if (served.includes(model)) return undefined;
  return reply.code(404).send(openAiError(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
}


/**
 * An OpenAI-compatible API, and Anthropic's messages, on loopback that need no network and cost
 * nothing: `POST /v1/chat/completions`, `POST /v1/responses` and `POST /v1/messages` (JSON or
 * server-sent events; see `anthropic.ts`) answer with
 * deterministic text and the usage a real API would report for it (prompt tokens counted as OpenAI
 * counts them, the reply's tokens with the model's tokenizer, the output cap honoured), `POST
 * /v1/embeddings` with deterministic vectors and their input tokens, and `GET /v1/models` lists
 * its models.
 * The gateway's demo mode puts it behind the gateway; tests use it as their local upstream.
 */
export async function startSimulatedUpstream(options: SimulatedUpstreamOptions): Promise<SimulatedUpstream> {
  const apiKey = `sk-simulated-${randomBytes(12).toString('hex')}`;
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 16 * 1024 * 1024 });
  let served = 0;

  app.addHook('onRequest', async (request, reply) => {
    reply.header(SIMULATED_HEADER, 'true');
    reply.header('x-request-id', `req_sim_${(++served).toString(16).padStart(8, '0')}`);
    // Anthropic's API takes its key in x-api-key, OpenAI's as a bearer token.
    if (request.url.startsWith('/v1/messages')) {
      if (request.headers['x-api-key'] !== apiKey) return reply.code(401).send(anthropicError(401, 'invalid x-api-key'));
    } else if (request.headers.authorization !== `Bearer ${apiKey}`) {
      return reply.code(401).send(openAiError('Incorrect API key provided to the simulated upstream.', 'invalid_request_error', 'invalid_api_key'));
    }
    return undefined;
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [...SIMULATED_MODELS, ...SIMULATED_EMBEDDING_MODELS].map((id) => ({ id, object: 'model', created: 1_715_367_049, owned_by: 'tollgate-simulated' })),
  }));

  app.post('/v1/chat/completions', async (request: FastifyRequest<{ Body: ChatBody }>, reply) => {
    const body = request.body;
    options.onRequest?.(body as Record<string, unknown>, headersOf(request));
    if (typeof body?.model !== 'string' || !Array.isArray(body.messages)) {
      return reply.code(400).send(openAiError('The request needs a model (a string) and messages (a list).', 'invalid_request_error', 'invalid_request'));
    }
    const model = body.model;
    const refused = unknownModel(reply, model, SIMULATED_MODELS);
    if (refused) return refused;
    const promptTokens = (await estimateChatCompletion(body)).inputTokens;
    const choices = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
    const answer = await simulatedReply(JSON.stringify(body.messages), model, requestedMaxTokens(body as Record<string, unknown>, chatCompletions.output));
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: answer.tokens * choices,
      total_tokens: promptTokens + answer.tokens * choices,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    const id = `chatcmpl-sim${served}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, created, model, system_fingerprint: 'fp_tollgate_simulated', service_tier: 'default' };
    const indexes = Array.from({ length: choices }, (_, index) => index);
    if (body.stream !== true) {
      return {
        ...base,
        object: 'chat.completion',
        choices: indexes.map((index) => ({ index, message: { role: 'assistant', content: answer.text, refusal: null, annotations: [] }, logprobs: null, finish_reason: answer.finishReason })),
        usage,
      };
    }
    return stream(reply, { ...base, object: 'chat.completion.chunk' }, indexes, answer.pieces, answer.finishReason, body.stream_options?.include_usage === true ? usage : undefined, options.chunkDelayMs);
  });

  responsesRoute(app, { models: SIMULATED_MODELS, chunkDelayMs: options.chunkDelayMs, onRequest: options.onRequest, id: () => served });

  app.post('/v1/embeddings', async (request: FastifyRequest<{ Body: EmbeddingsBody }>, reply) => {
    const body = request.body;
    options.onRequest?.(body as Record<string, unknown>, headersOf(request));
    if (typeof body?.model !== 'string') return reply.code(400).send(openAiError('The request needs a model (a string).', 'invalid_request_error', 'invalid_request'));
    const model = body.model;
    const refused = unknownModel(reply, model, SIMULATED_EMBEDDING_MODELS);
    if (refused) return refused;
    let promptTokens: number;
    try {
      promptTokens = (await estimateEmbeddings(body)).inputTokens;
    } catch (error) {
      return reply.code(400).send(openAiError((error as Error).message, 'invalid_request_error', 'invalid_request'));
    }
    // A single input (a string, or one array of token ids) is one embedding; any other array is one per item.
    const single = typeof body.input === 'string' || (Array.isArray(body.input) && body.input.every((item) => typeof item === 'number'));
    const inputs = single ? [body.input] : (body.input as unknown[]);
    const dimensions = typeof body.dimensions === 'number' ? body.dimensions : EMBEDDING_DIMENSIONS;
    return {
      object: 'list',
      model,
      data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: encodeEmbedding(embeddingOf(JSON.stringify(input), dimensions), body.encoding_format) })),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  });

  anthropicMessages(app, { ...options, id: () => served });

  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { baseUrl: `${address}/v1`, apiKey, close: () => app.close() };
}

/** Writes a chat completion stream as OpenAI does: a role delta, content deltas, the finish, the usage chunk, `[DONE]`. */
async function stream(
  reply: FastifyReply,
  base: Record<string, unknown>,
  indexes: number[],
  pieces: string[],
  finishReason: string,
  usage: Record<string, unknown> | undefined,
  delayMs: number,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(`data: ${JSON.stringify({ ...base, choices, ...(usage && { usage: null }), ...extra })}\n\n`);
  const delta = (content: Record<string, unknown>, finish: string | null = null) => indexes.map((index) => ({ index, delta: content, logprobs: null, finish_reason: finish }));
  send(delta({ role: 'assistant', content: '', refusal: null }));
  for (const piece of pieces) {
    if (res.destroyed) return;
    await sleep(delayMs);
    send(delta({ content: piece }));
  }
  send(delta({}, finishReason));
  if (usage) send([], { usage });
  res.end('data: [DONE]\n\n');
}

/** A deterministic unit vector for `text`. */
function embeddingOf(text: string, dimensions: number): number[] {
  let seed = hash(text);
  const vector = Array.from({ length: dimensions }, () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed / 0xffffffff - 0.5;
  });
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

/** An embedding as the request's `encoding_format` asks: numbers, or little-endian float32s in base64 (what the SDK asks for). */
function encodeEmbedding(vector: number[], format: unknown): number[] | string {
  return format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
}
