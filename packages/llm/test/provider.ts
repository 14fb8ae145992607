import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sse } from './fixtures.js';

type Json = Record<string, any>;

/** What the fake provider answers: a JSON body, or SSE events (optionally left hanging open). */
export interface Reply {
  status?: number;
  json?: object;
  events?: readonly object[];
  /** Keep the stream open after the events, as a provider still generating would. */
  hang?: boolean;
  /** Drop the connection without answering, as a provider that fails mid-response does. */
  drop?: boolean;
}

export interface Provider {
  /** The base URL (`http://127.0.0.1:port`). */
  url: string;
  /** Every request: its path, its parsed body and its headers. */
  requests: Array<{ path: string; body: Json; headers: IncomingMessage['headers'] }>;
  /** Resolves when a client has hung up on a stream left open. */
  disconnected: Promise<void>;
  close(): Promise<void>;
}

/**
 * A provider on 127.0.0.1 speaking the documented wire formats: JSON responses, and SSE framed as
 * OpenAI frames chat streams (`data:` lines, then `[DONE]`) or with `event:` names (Responses API,
 * Anthropic). `reply` decides each answer from the path, the body and the request's index.
 */
export async function startProvider(reply: (path: string, body: Json, index: number) => Reply): Promise<Provider> {
  const requests: Provider['requests'] = [];
  let hungUp!: () => void;
  const disconnected = new Promise<void>((resolve) => (hungUp = resolve));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Json) : {};
      const path = req.url ?? '/';
      requests.push({ path, body, headers: req.headers });
      const answer = reply(path, body, requests.length - 1);
      if (answer.drop) {
        res.socket?.destroy();
        return;
      }
      if (answer.events) {
        res.writeHead(answer.status ?? 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const framing = path.endsWith('/chat/completions') ? 'openai-chat' : 'named';
        let text = sse(answer.events, framing);
        if (answer.hang && framing === 'openai-chat') text = text.replace('data: [DONE]\n\n', '');
        res.write(text);
        if (answer.hang) res.on('close', hungUp);
        else res.end();
        return;
      }
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.json ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    disconnected,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A chat completion answering `body`, with the given usage. */
export function completion(body: Json, usage: { prompt: number; completion: number; cached?: number }, text = 'Done.') {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1741570283,
    model: body.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion,
      prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
    },
  };
}

/** The chunks of a streamed chat completion of `words`, ending with the include_usage chunk. */
export function chunks(model: string, words: string[], usage?: { prompt: number; completion: number }) {
  const base = { id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1694268190, model };
  const out: object[] = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null }];
  for (const word of words) out.push({ ...base, choices: [{ index: 0, delta: { content: word }, finish_reason: null }], usage: null });
  if (usage) {
    out.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null });
    out.push({ ...base, choices: [], usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } });
  }
  return out;
}
