import { countTokens, estimateResponse } from '@tollgate/llm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { responses } from '../proxy/apis.js';
import { requestedMaxTokens } from '../proxy/degrade.js';
import { openAiError } from '../proxy/errors.js';
import { simulatedReply } from './reply.js';
import { headersOf, sleep } from './requests.js';
import { nextToolCall, type ToolCall } from './tools.js';

type Json = Record<string, unknown>;

interface ResponseBody {
  model?: unknown;
  input?: unknown;
  instructions?: unknown;
  tools?: unknown;
  stream?: unknown;
  previous_response_id?: unknown;
  store?: unknown;
}

export interface ResponsesOptions {
  /** The models it serves. */
  readonly models: readonly string[];
  /** Milliseconds between streamed text deltas. */
  readonly chunkDelayMs: number;
  readonly onRequest?: (body: Json, headers: Headers) => void;
  /** The number of the request being answered, for its ids. */
  id(): number;
}

/** What the simulated model answers: a message of text, or a call of one of the request's function tools. */
type Output = { kind: 'text'; item: Json & { content: Json[] }; pieces: string[] } | { kind: 'call'; item: Json; call: ToolCall };

/**
 * `POST /v1/responses` as OpenAI's API answers it, JSON or a stream of events. Given function
 * tools, the simulated model calls each once, in order, one per turn (the input's
 * `function_call_output` items say how many it has had answered), then answers in text: enough for
 * an agent's loop to run to its end.
 */
export function responsesRoute(app: FastifyInstance, options: ResponsesOptions): void {
  app.post('/v1/responses', async (request: FastifyRequest<{ Body: ResponseBody }>, reply) => {
    const body = request.body;
    options.onRequest?.(body as Json, headersOf(request));
    if (typeof body?.model !== 'string' || (typeof body.input !== 'string' && !Array.isArray(body.input))) {
      return reply.code(400).send(openAiError('The request needs a model (a string) and an input (a string or a list of items).', 'invalid_request_error', 'invalid_request'));
    }
    const model = body.model;
    if (!options.models.includes(model)) return reply.code(404).send(openAiError(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
    const n = options.id();
    const inputTokens = (await estimateResponse(body)).inputTokens;
    const maxOutputTokens = requestedMaxTokens(body as Json, responses.output);
    const call = nextToolCall(body.tools, body.input, `sim${n}`);
    let output: Output;
    let outputTokens: number;
    let cut = false;
    if (call) {
      outputTokens = await countTokens(`${call.name}(${call.arguments})`, model);
      output = { kind: 'call', call, item: { type: 'function_call', id: `fc_sim${n}`, call_id: call.callId, name: call.name, arguments: call.arguments, status: 'completed' } };
    } else {
      const answer = await simulatedReply(JSON.stringify([body.instructions, body.input]), model, maxOutputTokens);
      outputTokens = answer.tokens;
      cut = answer.finishReason === 'length';
      output = { kind: 'text', pieces: answer.pieces, item: { id: `msg_sim${n}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: answer.text, annotations: [], logprobs: [] }] } };
    }
    const response = {
      id: `resp_sim${n}`,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: cut ? 'incomplete' : 'completed',
      incomplete_details: cut ? { reason: 'max_output_tokens' } : null,
      error: null,
      model,
      instructions: body.instructions ?? null,
      max_output_tokens: maxOutputTokens ?? null,
      // Conversation state is the server's: echoed as a real API does, never acted upon here.
      previous_response_id: body.previous_response_id ?? null,
      store: body.store ?? true,
      output: [output.item],
      parallel_tool_calls: true,
      tool_choice: 'auto',
      tools: Array.isArray(body.tools) ? body.tools : [],
      usage: { input_tokens: inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inputTokens + outputTokens },
    };
    if (body.stream !== true) return response;
    return streamResponse(reply, response, output, options.chunkDelayMs);
  });
}

/**
 * Writes a response as the Responses API streams it: `response.created`, its output item's
 * opening, the text deltas (of a message's part) or the arguments (of a function call), their
 * closing, and `response.completed` (or `.incomplete`, when the cap cut it) carrying the whole
 * response with its usage.
 */
async function streamResponse(reply: FastifyReply, response: Json & { status: string }, output: Output, delayMs: number): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let sequence = 0;
  const send = (type: string, fields: Json) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`);
  const { item } = output;
  const at = { item_id: item.id, output_index: 0 };
  send('response.created', { response: { ...response, status: 'in_progress', incomplete_details: null, output: [], usage: null } });
  if (output.kind === 'call') {
    send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
    send('response.function_call_arguments.delta', { ...at, delta: output.call.arguments });
    send('response.function_call_arguments.done', { ...at, arguments: output.call.arguments });
  } else {
    const part = output.item.content[0]!;
    send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    send('response.content_part.added', { ...at, content_index: 0, part: { ...part, text: '' } });
    for (const piece of output.pieces) {
      if (res.destroyed) return;
      await sleep(delayMs);
      send('response.output_text.delta', { ...at, content_index: 0, delta: piece, logprobs: [] });
    }
    send('response.output_text.done', { ...at, content_index: 0, text: part.text, logprobs: [] });
    send('response.content_part.done', { ...at, content_index: 0, part });
  }
  send('response.output_item.done', { output_index: 0, item });
  send(response.status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
  res.end();
}
