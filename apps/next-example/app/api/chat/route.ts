import { withTollgate } from '@tollgate/adapter-next';
import type { Usage } from '@tollgate/core';
import { identify } from '../../../lib/caller';
import { chatLimiter } from '../../../lib/limiter';

interface ChatRequest {
  messages?: { role: string; content: string }[];
}

/** Roughly four characters per token, as tokenizers average on English. */
const tokensIn = (text: string) => Math.ceil(text.length / 4);
/** The demo's price: $10 per million tokens. */
const costOf = (tokens: number) => tokens * 0.000_01;
const usageOf = (model: string, input: number, output: number): Usage => ({ model, inputTokens: input, outputTokens: output, cost: costOf(input + output) });

const readChat = (request: Request): Promise<ChatRequest> => request.json().catch(() => ({}));
const promptOf = (chat: ChatRequest) => (chat.messages ?? []).map((message) => message.content).join('\n');

/** A stand-in for the LLM: it answers with the last message, word by word. */
function answer(chat: ChatRequest, maxTokens: number): string[] {
  const last = chat.messages?.at(-1)?.content ?? 'Hello!';
  return `You said: ${last}`.split(' ').slice(0, maxTokens);
}

const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

/** Streams the words as OpenAI-style server-sent events, one every 100 ms, recording usage at the end. */
function streamed(words: string[], record: (outputTokens: number) => Promise<unknown>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent === words.length) {
        await record(sent);
        controller.enqueue(encoder.encode('data: [DONE]\n\n'));
        controller.close();
        return;
      }
      if (sent > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      controller.enqueue(encoder.encode(sse({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `${words[sent++]} ` } }] })));
    },
    // The client went away: what was generated so far is still spent.
    async cancel() {
      await record(sent);
    },
  });
}

export const POST = withTollgate(
  async (request, { tollgate }) => {
    const chat = await readChat(request);
    const model = tollgate.degrade?.model ?? 'demo-large';
    const words = answer(chat, tollgate.degrade?.maxTokens ?? 1024);
    const input = tokensIn(promptOf(chat));

    if (new URL(request.url).searchParams.get('stream') === '1') {
      const body = streamed(words, (output) => tollgate.lease.record(usageOf(model, input, output)));
      return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
    }

    await tollgate.lease.record(usageOf(model, input, words.length));
    return Response.json({
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' }],
      usage: { prompt_tokens: input, completion_tokens: words.length, total_tokens: input + words.length },
    });
  },
  {
    limiter: chatLimiter,
    identify,
    // Reserve the prompt plus a full answer; the lease refunds what the answer did not use.
    demand: async (request) => ({ tokens: tokensIn(promptOf(await readChat(request.clone()))) + 1024 }),
  },
);
