import { configurationError, describeValue, invalidInput, LlmRefusedError } from './errors.js';
import { formatOfPath } from './formats/index.js';
import { Metering, type Admitted, type MeterOptions } from './meter.js';
import { hideInjectedUsage, meteredBody, sseOver } from './stream.js';

/** Options of `meteredFetch`. */
export interface MeteredFetchOptions extends MeterOptions {
  /**
   * The fetch to send requests with.
   * @default globalThis.fetch
   * @example { fetch: undiciFetch }
   */
  fetch?: typeof fetch;
  /**
   * The field the output cap is written to when a chat request sets no output limit (`max_tokens`
   * for servers that predate `max_completion_tokens`).
   * @default 'max_completion_tokens'
   * @example { maxTokensParam: 'max_tokens' }
   */
  maxTokensParam?: 'max_completion_tokens' | 'max_tokens';
  /**
   * What a refused call returns. `'response'`: a `429` (or `503` when the store failed) with the
   * OpenAI-style error body and `retry-after`, `retry-after-ms` and `x-should-retry`, as an API
   * would answer, so every SDK backs off or raises its own rate-limit error (a thrown error looks
   * like a network failure to an SDK, which retries it). `'throw'`: `LlmRefusedError`.
   * @default 'response'
   * @example { onRefusal: 'throw' } // your own code calls this fetch and catches LlmRefusedError
   */
  onRefusal?: 'response' | 'throw';
}

/** A refused call as an API answers it. */
function refusal({ status, headers, body }: LlmRefusedError): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });
}

/**
 * A `fetch` for an OpenAI-compatible (or Anthropic) HTTP API that meters every POST to
 * `…/chat/completions`, `…/responses`, `…/messages` and `…/embeddings`: the JSON body is
 * estimated, admitted, degraded and sent with the output it reserved as its cap (embeddings have
 * no output: their input is reserved, and they are not degraded), and the usage is recorded from
 * the JSON response or from the SSE stream as the caller reads it. A call whose usage is not known (a
 * body cancelled mid-stream, a stream or response without usable usage, a connection that fails)
 * is recorded as partial: the input plus the output received, and the lease keeps its reservation.
 * A streamed chat request is sent with `stream_options.include_usage`, so that its last chunk
 * carries the usage; a caller that did not ask for it gets the stream without that chunk (see
 * `hideInjectedUsage`). Other requests, and error responses, pass through without usage (an error
 * status releases a per-call lease). A refused call is answered without sending anything, with a
 * `429` as an API would (see `onRefusal`).
 *
 * @example
 * const fetch = meteredFetch({ limiter, identity: { user: 'u1' } });
 * const client = new OpenAI({ baseURL: 'https://llm.example.com/v1', fetch });
 */
export function meteredFetch(options: MeteredFetchOptions): typeof fetch {
  const where = 'meteredFetch';
  const metering = new Metering(options, where);
  const send = options.fetch ?? globalThis.fetch;
  if (typeof send !== 'function') throw configurationError(`${where}: no fetch: pass options.fetch`);
  const { maxTokensParam, onRefusal = 'response' } = options;
  if (onRefusal !== 'response' && onRefusal !== 'throw') throw configurationError(`${where}: onRefusal must be 'response' or 'throw', got ${describeValue(onRefusal)}`);
  return async (input, init) => {
    const request = new Request(input, init);
    const format = request.method === 'POST' ? formatOfPath(new URL(request.url).pathname) : undefined;
    if (!format) return send(request);
    let body: unknown;
    try {
      body = JSON.parse(await request.text());
    } catch {
      throw invalidInput(`${where}: the body of POST ${new URL(request.url).pathname} is not JSON`);
    }
    let admitted: Admitted;
    try {
      admitted = await metering.admit(format, body, maxTokensParam);
    } catch (error) {
      if (onRefusal === 'throw' || !(error instanceof LlmRefusedError)) throw error;
      return refusal(error);
    }
    const { body: outgoing, injected } = admitted;
    const headers = new Headers(request.headers);
    headers.delete('content-length');
    let response: Response;
    try {
      response = await send(request.url, { method: 'POST', headers, body: JSON.stringify(outgoing), signal: request.signal });
    } catch (error) {
      await admitted.settleFailure(false);
      throw error;
    }
    if (!response.ok) {
      await admitted.settleFailure(true);
      return response;
    }
    const type = response.headers.get('content-type') ?? '';
    if (format.stream && outgoing.stream === true && type.includes('text/event-stream') && response.body) {
      const meter = sseOver(admitted.streamMeter());
      const metered = meteredBody(response.body, meter, (chunk) => meter.write(chunk), admitted.meterOptions, (usage, end) => admitted.settle(usage, end.complete));
      return new Response(injected ? metered.pipeThrough(hideInjectedUsage()) : metered, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    let parsed: unknown;
    try {
      parsed = await response.clone().json();
    } catch {
      parsed = undefined;
    }
    await admitted.settleResponse(parsed);
    return response;
  };
}
