/**
 * A hostile fake LLM provider for budget tests. It speaks OpenAI Chat Completions and Anthropic
 * Messages (JSON and SSE) on 127.0.0.1, bills every call as a provider does (everything it
 * generated, hidden reasoning included, whether or not the answer reached the client), and
 * misbehaves in the ways real upstreams and routers do: streams cut before their usage, model names
 * no price table knows, usage that is missing or malformed, caps ignored, usage over-reported.
 *
 * Its bill is the worst case a budget guard must cover: a call that is cut off is billed as if it
 * had generated all it was allowed to, and input is billed as the prompt's word count, which is
 * never more than any tokenizer counts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * How the provider misbehaves.
 * - `honest`: honours the cap, reports exact usage.
 * - `cut-reasoning`: thinks (hidden reasoning tokens, billed) and the connection drops before any
 *   usage: after the first chunk of a stream, or half-way through a JSON body.
 * - `unknown-model`: reports exact usage under a served model name no price table knows.
 * - `no-usage`: no usable usage: none at all, `{}`, or only `total_tokens` (in turn).
 * - `malformed-usage`: counts that are negative, strings or fractions (in turn).
 * - `ignore-cap`: generates `uncappedOutputTokens` whatever the cap, and reports it.
 * - `over-report`: honours the cap but reports (and bills) three times what it generated.
 * - `fail-mid-stream`: sends part of the answer, then the connection drops.
 */
export type Misbehaviour = 'honest' | 'cut-reasoning' | 'unknown-model' | 'no-usage' | 'malformed-usage' | 'ignore-cap' | 'over-report' | 'fail-mid-stream';

export const MISBEHAVIOURS: readonly Misbehaviour[] = ['honest', 'cut-reasoning', 'unknown-model', 'no-usage', 'malformed-usage', 'ignore-cap', 'over-report', 'fail-mid-stream'];

export interface HostileUpstreamOptions {
  behaviour: Misbehaviour;
  /** Output tokens a call generates when no cap is sent (a reasoning model thinking at length). @default 30000 */
  uncappedOutputTokens?: number;
  /** Ms before answering and between stream chunks. @default 0 */
  delayMs?: number;
}

/** One call as the provider bills it. */
export interface BilledCall {
  path: string;
  /** The model asked for (what the bill is priced as). */
  model: string;
  inputTokens: number;
  /** Output tokens generated, reasoning included. */
  outputTokens: number;
  reasoningTokens: number;
  /** The output cap the request carried. */
  cap: number | undefined;
  stream: boolean;
}

export interface HostileUpstream {
  /** Base URL ending in `/v1`. */
  url: string;
  /** Every call billed so far. */
  billed: BilledCall[];
  close(): Promise<void>;
}

type Json = Record<string, any>;

/** The visible answer; everything generated beyond it is hidden reasoning. */
const ANSWER = ['The', ' answer', ' is', ' forty', ' two.'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function words(text: unknown): number {
  return typeof text === 'string' ? (text.match(/\S+/g)?.length ?? 0) : 0;
}

/** Words of a message content: a string, or parts carrying `text`. */
function contentWords(content: unknown): number {
  if (!Array.isArray(content)) return words(content);
  return content.reduce((sum: number, part: unknown) => sum + (typeof part === 'string' ? words(part) : words((part as Json | null)?.text)), 0);
}

function promptWords(body: Json): number {
  const messages: unknown[] = Array.isArray(body.messages) ? body.messages : [];
  return contentWords(body.system) + messages.reduce((sum: number, message) => sum + contentWords((message as Json | null)?.content), 0);
}

function capOf(body: Json, anthropic: boolean): number | undefined {
  const cap = anthropic ? body.max_tokens : (body.max_completion_tokens ?? body.max_tokens);
  return typeof cap === 'number' && cap > 0 ? cap : undefined;
}

/** What the provider reports and bills for one call. */
interface Call {
  model: string;
  servedModel: string;
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** The usage counts as reported (possibly lies or nonsense), or undefined for none at all. */
  reported: { input: unknown; output: unknown; total?: unknown; shape: 'counts' | 'empty' | 'total-only' } | undefined;
}

function plan(body: Json, anthropic: boolean, behaviour: Misbehaviour, uncapped: number, index: number): Call {
  const model = String(body.model);
  const inputTokens = promptWords(body);
  const cap = capOf(body, anthropic);
  const generated = behaviour === 'ignore-cap' ? uncapped : Math.min(cap ?? uncapped, uncapped);
  // Over-reporting bills what it reports, as a lying provider's invoice would.
  const outputTokens = behaviour === 'over-report' ? generated * 3 : generated;
  const reasoningTokens = Math.max(0, generated - ANSWER.length);
  const servedModel = behaviour === 'unknown-model' ? `vendor/${model}-2099-01-01` : model;
  let reported: Call['reported'] = { input: inputTokens, output: outputTokens, shape: 'counts' };
  if (behaviour === 'no-usage') {
    const variant = index % 3;
    reported = variant === 0 ? undefined : variant === 1 ? { input: undefined, output: undefined, shape: 'empty' } : { input: undefined, output: undefined, total: inputTokens + outputTokens, shape: 'total-only' };
  } else if (behaviour === 'malformed-usage') {
    const variant = index % 3;
    reported = { input: variant === 0 ? -inputTokens : inputTokens + 0.5, output: variant === 1 ? String(outputTokens) : -1, shape: 'counts' };
  }
  return { model, servedModel, inputTokens, outputTokens, reasoningTokens, reported };
}

function openaiUsage(call: Call): Json | undefined {
  const { reported } = call;
  if (!reported) return undefined;
  if (reported.shape === 'empty') return {};
  if (reported.shape === 'total-only') return { total_tokens: reported.total };
  return { prompt_tokens: reported.input, completion_tokens: reported.output, total_tokens: call.inputTokens + call.outputTokens, completion_tokens_details: { reasoning_tokens: call.reasoningTokens } };
}

function anthropicUsage(call: Call): Json | undefined {
  const { reported } = call;
  if (!reported) return undefined;
  if (reported.shape !== 'counts') return {};
  return { input_tokens: reported.input, output_tokens: reported.output, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
}

function chatCompletion(call: Call): Json {
  const body: Json = {
    id: 'chatcmpl-hostile',
    object: 'chat.completion',
    created: 1764979200,
    model: call.servedModel,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER.join(''), refusal: null }, logprobs: null, finish_reason: 'stop' }],
  };
  const usage = openaiUsage(call);
  if (usage) body.usage = usage;
  return body;
}

function chatChunks(call: Call, includeUsage: boolean): Json[] {
  const base = { id: 'chatcmpl-hostile', object: 'chat.completion.chunk', created: 1764979200, model: call.servedModel };
  const extra = includeUsage ? { usage: null } : {};
  const chunks: Json[] = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...extra }];
  for (const word of ANSWER) chunks.push({ ...base, choices: [{ index: 0, delta: { content: word }, finish_reason: null }], ...extra });
  chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...extra });
  const usage = openaiUsage(call);
  if (includeUsage && usage) chunks.push({ ...base, choices: [], usage });
  return chunks;
}

function message(call: Call): Json {
  const body: Json = {
    id: 'msg_hostile',
    type: 'message',
    role: 'assistant',
    model: call.servedModel,
    content: [
      { type: 'thinking', thinking: 'Let me think.', signature: 'sig' },
      { type: 'text', text: ANSWER.join('') },
    ],
    stop_reason: 'end_turn',
    stop_sequence: null,
  };
  const usage = anthropicUsage(call);
  if (usage) body.usage = usage;
  return body;
}

/** Anthropic's stream: `message_start` reports the input, `message_delta` the output at the end. */
function messageEvents(call: Call): Json[] {
  const usage = anthropicUsage(call);
  const start = usage ? { ...usage, output_tokens: 1 } : undefined;
  const events: Json[] = [
    { type: 'message_start', message: { id: 'msg_hostile', type: 'message', role: 'assistant', model: call.servedModel, content: [], stop_reason: null, stop_sequence: null, ...(start && { usage: start }) } },
    { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think.' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
  ];
  for (const word of ANSWER) events.push({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: word } });
  events.push({ type: 'content_block_stop', index: 1 });
  events.push({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, ...(usage && { usage: { output_tokens: usage.output_tokens } }) });
  events.push({ type: 'message_stop' });
  return events;
}

/**
 * Starts the provider. Every call is billed when it arrives, for all it will generate, so a call
 * the client gives up on is still on the bill, as with a real provider that has started work.
 */
export async function startHostileUpstream(options: HostileUpstreamOptions): Promise<HostileUpstream> {
  const { behaviour, uncappedOutputTokens = 30_000, delayMs = 0 } = options;
  const billed: BilledCall[] = [];
  const sockets = new Set<Socket>();
  let index = 0;

  const answer = async (path: string, body: Json, res: ServerResponse) => {
    const anthropic = path === '/v1/messages';
    const stream = body.stream === true;
    const call = plan(body, anthropic, behaviour, uncappedOutputTokens, index++);
    billed.push({ path, model: call.model, inputTokens: call.inputTokens, outputTokens: call.outputTokens, reasoningTokens: call.reasoningTokens, cap: capOf(body, anthropic), stream });
    const cut = behaviour === 'cut-reasoning' || behaviour === 'fail-mid-stream';
    if (delayMs > 0) await sleep(delayMs);
    if (!stream) {
      const text = JSON.stringify(anthropic ? message(call) : chatCompletion(call));
      res.writeHead(200, { 'content-type': 'application/json' });
      if (!cut) return res.end(text);
      res.write(text.slice(0, text.length >> 1));
      return res.destroy();
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = anthropic ? messageEvents(call) : chatChunks(call, body.stream_options?.include_usage === true);
    // A reasoning stream is cut after its first event; a failing one half-way through the answer.
    const sent = behaviour === 'cut-reasoning' ? 1 : behaviour === 'fail-mid-stream' ? events.length >> 1 : events.length;
    for (let i = 0; i < sent; i++) {
      if (res.destroyed) return;
      const event = events[i]!;
      res.write(anthropic ? `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n` : `data: ${JSON.stringify(event)}\n\n`);
      if (delayMs > 0) await sleep(delayMs);
    }
    if (cut) return res.destroy();
    if (!anthropic) res.write('data: [DONE]\n\n');
    res.end();
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      let body: Json;
      try {
        body = JSON.parse(raw) as Json;
      } catch {
        body = {};
      }
      if (req.method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/v1/messages') || typeof body.model !== 'string') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route for ${req.method} ${path}`, type: 'invalid_request_error' } }));
        return;
      }
      answer(path, body, res).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    billed,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
