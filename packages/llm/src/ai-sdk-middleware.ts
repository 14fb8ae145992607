/**
 * A language-model middleware for the Vercel AI SDK (`wrapLanguageModel`): every call a model makes,
 * each step of a tool loop included, is reserved, capped and metered against Tollgate's limiter.
 * It works with `ai` 5 (the `LanguageModelV2` specification), 6 (`V3`) and 7 (`V4`).
 *
 * The types here are the AI SDK's, as far as the middleware uses them, written out so that this
 * entry point needs neither `ai` nor `@ai-sdk/provider` installed to type-check.
 *
 * @module @tollgate/llm/ai-sdk
 */
import type { Decision } from '@tollgate/core';
import { configurationError, describeValue, LlmRefusedError } from './errors.js';
import { aiSdkModel } from './formats/ai-sdk-model.js';
import { answeredWithStatus, Metering, type Admitted, type MeterOptions } from './meter.js';
import { meteredBody } from './stream.js';

/**
 * The AI SDK's language-model specification a middleware is for: `'v2'` for `ai` 5
 * (`LanguageModelV2Middleware`), `'v3'` for `ai` 6 (`LanguageModelV3Middleware`), `'v4'` for `ai` 7
 * (`LanguageModelV4Middleware`).
 */
export type AiSdkSpecificationVersion = 'v2' | 'v3' | 'v4';

const VERSIONS: readonly string[] = ['v2', 'v3', 'v4'] satisfies AiSdkSpecificationVersion[];

/** Options of `tollgateMiddleware`: how calls are admitted (see `MeterOptions`), how a refusal is retried, and which `ai` major it is for. */
export interface TollgateMiddlewareOptions<V extends AiSdkSpecificationVersion = AiSdkSpecificationVersion> extends MeterOptions {
  /**
   * The AI SDK specification of the middleware: `'v2'` for `ai` 5, `'v3'` for `ai` 6, `'v4'` for
   * `ai` 7. The middleware meters the calls of every one alike (their call options, results, stream
   * parts and usage, flat in V2 and split into parts in V3 and V4); this says which version it
   * declares, so that it has the type, and the marker, that major's `wrapLanguageModel` expects.
   * @default 'v4'
   * @example tollgateMiddleware({ limiter, identity, specificationVersion: 'v3' }) // ai 6
   */
  specificationVersion?: V;
  /**
   * A refusal whose wait is at most this many ms is thrown as retryable: the AI SDK waits its
   * `retry-after-ms` and calls again (each attempt admitted anew, within `maxRetries`). A longer wait,
   * or a refusal no wait cures (a lease's cap, a spent budget), is not retried.
   * @default 5000
   * @example { retryableWithinMs: 0 } // never let the AI SDK retry a refusal
   */
  retryableWithinMs?: number;
}

/** What the middleware reads and writes of a call's options (the AI SDK's `LanguageModelV4CallOptions`, and V2's and V3's). */
export interface AiSdkCallOptions {
  prompt: readonly unknown[];
  maxOutputTokens?: number;
}

/**
 * The middleware, typed as the AI SDK's middleware of specification `V` as far as it goes
 * (`LanguageModelV4Middleware` of `ai` 7 by default; V2 declares its version as `middlewareVersion`):
 * pass it to `wrapLanguageModel({ model, middleware })`.
 */
export type TollgateMiddleware<V extends AiSdkSpecificationVersion = 'v4'> = TollgateMiddlewareCalls &
  (V extends 'v2' ? { readonly middlewareVersion: 'v2' } : { readonly specificationVersion: V });

/** The calls a `TollgateMiddleware` wraps: `doGenerate` and `doStream`, in every specification. */
export interface TollgateMiddlewareCalls {
  wrapGenerate<P extends AiSdkCallOptions, R>(options: { params: P; model: { readonly modelId: string; doGenerate(options: P): PromiseLike<R> } }): Promise<R>;
  wrapStream<P extends AiSdkCallOptions, R extends { stream: ReadableStream<unknown> }>(options: {
    params: P;
    model: { readonly modelId: string; doStream(options: P): PromiseLike<R> };
  }): Promise<R>;
}

const AI_SDK_ERROR = Symbol.for('vercel.ai.error');
const API_CALL_ERROR = Symbol.for('vercel.ai.error.AI_APICallError');

/**
 * A call the limiter refused, thrown as the AI SDK's `APICallError` answering with the refusal's
 * status (429, or 503 when the store failed): `APICallError.isInstance(error)` is true (it carries
 * the markers the AI SDK tells its errors by, across its versions), and it is a `LlmRefusedError`,
 * with the decision. The AI SDK retries it only when `isRetryable`, waiting its `retry-after-ms`.
 *
 * @example
 * catch (error) { if (APICallError.isInstance(error) && error.statusCode === 429) return tooBusy(error.responseHeaders) }
 */
export class AiSdkRefusedError extends LlmRefusedError {
  override name = 'AiSdkRefusedError';
  readonly [AI_SDK_ERROR] = true;
  readonly [API_CALL_ERROR] = true;
  /** The refusal's status, as `APICallError` names it. */
  readonly statusCode: number;
  /** The refusal's headers (`retry-after-ms` among them), as `APICallError` names them. */
  readonly responseHeaders: Record<string, string>;
  /** The refusal's OpenAI-style JSON body, as text. */
  readonly responseBody: string;
  /** Whether the AI SDK may retry the call: the wait is within `retryableWithinMs`. */
  readonly isRetryable: boolean;
  constructor(decision: Decision, retryableWithinMs: number) {
    super(decision);
    this.statusCode = this.status;
    this.responseHeaders = this.headers;
    this.responseBody = JSON.stringify(this.body);
    this.isRetryable = this.retryAfterMs <= retryableWithinMs;
  }
}

const DEFAULT_RETRYABLE_WITHIN_MS = 5_000;

/**
 * A language-model middleware for the AI SDK's `wrapLanguageModel` that meters every call of the
 * model, each step of a multi-step tool loop included. Before a call it estimates the prompt (and
 * tools), reserves it (per call, `{ limiter, identity }`: each call its own `acquire`; on one
 * workflow's lease, `{ lease, degrade }`: `lease.step(estimate)`), and sends it with
 * `maxOutputTokens` capped at the output reserved (set when absent, lowered when larger; a
 * degradation step's `maxTokens` lowers it further, and its `model` is yours to apply, since the
 * model is the object you wrapped). After it, the provider's usage (input, cached, output with
 * reasoning) is recorded from `doGenerate`'s result or `doStream`'s `finish` part; a result without
 * usable usage, a stream that ends, fails or is cancelled before it, or a call that fails is
 * recorded as partial, so the lease keeps its reservation. Per call, the lease is released once
 * the call is settled. A refusal throws `AiSdkRefusedError` (an `APICallError` to the AI SDK),
 * retryable only when its wait is short (`retryableWithinMs`).
 *
 * @example
 * const model = wrapLanguageModel({ model: openai('gpt-4o'), middleware: tollgateMiddleware({ limiter, identity: { user: 'u1' } }) });
 * @example
 * const decision = await limiter.acquire({ user: 'u1' });
 * const model = wrapLanguageModel({ model: openai('gpt-4o'), middleware: tollgateMiddleware({ lease: decision.lease, degrade: decision.degrade }) });
 */
export function tollgateMiddleware<V extends AiSdkSpecificationVersion = 'v4'>(options: TollgateMiddlewareOptions<V>): TollgateMiddleware<V> {
  const where = 'tollgateMiddleware';
  const { specificationVersion = 'v4', ...meterOptions } = options ?? {};
  const metering = new Metering(meterOptions, where);
  const { retryableWithinMs = DEFAULT_RETRYABLE_WITHIN_MS } = meterOptions;
  if (typeof retryableWithinMs !== 'number' || !(retryableWithinMs >= 0)) {
    throw configurationError(`${where}: retryableWithinMs must be a number of ms, at least 0, got ${describeValue(retryableWithinMs)}`);
  }
  if (!VERSIONS.includes(specificationVersion)) {
    throw configurationError(`${where}: specificationVersion must be 'v2' (ai 5), 'v3' (ai 6) or 'v4' (ai 7), got ${describeValue(specificationVersion)}`);
  }

  /** Admits one call and sends it capped; a failed call is settled before its error goes on. */
  async function send<P extends AiSdkCallOptions, R>(params: P, modelId: string, call: (params: P) => PromiseLike<R>): Promise<[R, Admitted]> {
    let admitted: Admitted;
    try {
      admitted = await metering.admit(aiSdkModel, { ...params, model: modelId });
    } catch (error) {
      if (error instanceof LlmRefusedError) throw new AiSdkRefusedError(error.decision, retryableWithinMs);
      throw error;
    }
    try {
      return [await call({ ...params, maxOutputTokens: admitted.body.maxOutputTokens as number }), admitted];
    } catch (error) {
      await admitted.settleFailure(answeredWithStatus(error));
      throw error;
    }
  }

  const calls: TollgateMiddlewareCalls = {
    async wrapGenerate({ params, model }) {
      const [result, admitted] = await send(params, model.modelId, (capped) => model.doGenerate(capped));
      await admitted.settleResponse(result);
      return result;
    },
    async wrapStream({ params, model }) {
      const [result, admitted] = await send(params, model.modelId, (capped) => model.doStream(capped));
      const meter = admitted.streamMeter();
      const stream = meteredBody(result.stream, meter, (part) => meter.push(part), admitted.meterOptions, (usage, end) => admitted.settle(usage, end.complete));
      return { ...result, stream };
    },
  };
  // The marker each major's types ask for (no `wrapLanguageModel` checks it at runtime).
  // (A conditional type TypeScript cannot narrow by the value: the cast states what the branch built.)
  const version = specificationVersion === 'v2' ? { middlewareVersion: 'v2' as const } : { specificationVersion };
  return { ...version, ...calls } as unknown as TollgateMiddleware<V>;
}
