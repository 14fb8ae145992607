import type { AcquireOptions, DegradeStep, Identity, Lease, Limiter, Usage } from '@tollgate/core';
import { countNow, estimateAnthropicMessage, estimateChatCompletion, estimateResponse, type EstimateOptions, type LlmDemand } from './estimate.js';
import { configurationError, describe, invalidInput, LlmRefusedError } from './errors.js';
import { defaultPrices, type LlmPriceSource } from './prices.js';
import { isUsageOnlyChunk, streamMeter, type StreamFormat, type StreamMeter, type StreamMeterOptions } from './stream.js';
import { anthropicUsage, openaiChatUsage, openaiResponseUsage } from './usage.js';
import { isObject, type Json } from './json.js';

/**
 * How wrapped calls are admitted and accounted. Two modes:
 * - **per call**: `{ limiter, identity }`: each call is its own request (estimate, `acquire`,
 *   record, `release`).
 * - **one lease**: `{ lease, degrade }` from one `acquire`: a whole workflow is one request; each
 *   call reserves its estimate on the lease (`lease.step`) and records its usage, and you release
 *   the lease when the workflow ends.
 *
 * @example wrapOpenAI(new OpenAI(), { limiter, identity: { user: 'u1' } })
 * @example wrapOpenAI(new OpenAI(), { lease: decision.lease, degrade: decision.degrade })
 */
export interface MeterOptions {
  /**
   * Per call: the limiter each call acquires from (with `identity`).
   * @default undefined
   * @example { limiter, identity: { user: 'u1' } }
   */
  limiter?: Limiter;
  /**
   * Per call: who is calling.
   * @default undefined
   * @example { user: 'u1', apiKey: 'key_123' }
   */
  identity?: Identity;
  /**
   * Per call: lease options for each `acquire` (`ttl`, `maxSteps`, `maxToolCalls`).
   * @default the limiter's
   * @example { acquire: { ttl: '2m' } }
   */
  acquire?: AcquireOptions;
  /**
   * One lease: the lease of an admitted `acquire`, shared by every call. You release it.
   * @default undefined
   * @example { lease: decision.lease, degrade: decision.degrade }
   */
  lease?: Lease;
  /**
   * One lease: the degradation step of that `acquire` (`decision.degrade`), applied to every call.
   * @default undefined (no step applied)
   * @example { degrade: decision.degrade }
   */
  degrade?: DegradeStep;
  /**
   * One lease: what each call does on the lease before it runs. `'reserve'` reserves its estimate
   * with `lease.step(demand)` (refused when a budget cannot hold it, and counted against
   * `maxSteps`); `'count'` only counts it against `maxSteps`; `'none'` records afterwards only.
   * @default 'reserve'
   * @example { step: 'count' } // the acquire already reserved the whole workflow
   */
  step?: 'reserve' | 'count' | 'none';
  /**
   * Prices the recorded usage exactly (cache writes, tiers) and the estimates. Pass the source you
   * gave the limiter.
   * @default defaultPrices() (the bundled genai-prices table)
   * @example { prices } // the same genaiPrices() as createLimiter's
   */
  prices?: LlmPriceSource;
  /**
   * Apply the degradation step: its `model` replaces the request's, its `maxTokens` caps (or sets)
   * the request's output limit.
   * @default true
   * @example { applyDegrade: false } // read decision.degrade yourself
   */
  applyDegrade?: boolean;
  /**
   * Options of the estimates (`defaultMaxTokens`, `imageTokens`, `countTokens`).
   * @default {}
   * @example { estimate: { defaultMaxTokens: 1024 } }
   */
  estimate?: Omit<EstimateOptions, 'prices'>;
  /**
   * Where failures to record or release after a call are reported (the call itself succeeded, and
   * its result is returned).
   * @default console.warn
   * @example { onError: (error) => logger.error(error) }
   */
  onError?: (error: unknown) => void;
}

/** What differs between the three APIs. */
export interface Api {
  readonly name: string;
  readonly format: StreamFormat;
  estimate(body: Json, options: EstimateOptions): Promise<LlmDemand>;
  /** The output-limit fields the API reads, in order of precedence, and the one to set. */
  readonly maxTokensFields: readonly string[];
  usage(result: unknown, prices: LlmPriceSource): Usage | undefined;
  /** Generated text, to count when a response carries no usage. */
  outputText(result: unknown): string;
}

function texts(values: unknown[]): string {
  return values.filter((value): value is string => typeof value === 'string').join('');
}

export const CHAT: Api = {
  name: 'chat.completions',
  format: 'openai-chat',
  estimate: estimateChatCompletion,
  maxTokensFields: ['max_completion_tokens', 'max_tokens'],
  usage: (result, prices) => openaiChatUsage(result, { prices }),
  outputText: (result) =>
    texts(
      (isObject(result) && Array.isArray(result.choices) ? result.choices : []).flatMap((choice) => {
        const message = isObject(choice) && isObject(choice.message) ? choice.message : {};
        return [message.content, message.refusal, ...(Array.isArray(message.tool_calls) ? message.tool_calls.map((call) => JSON.stringify(call)) : [])];
      }),
    ),
};

export const RESPONSES: Api = {
  name: 'responses',
  format: 'openai-responses',
  estimate: estimateResponse,
  maxTokensFields: ['max_output_tokens'],
  usage: (result, prices) => openaiResponseUsage(result, { prices }),
  outputText: (result) => (isObject(result) && Array.isArray(result.output) ? JSON.stringify(result.output) : ''),
};

export const MESSAGES: Api = {
  name: 'messages',
  format: 'anthropic',
  estimate: estimateAnthropicMessage,
  maxTokensFields: ['max_tokens'],
  usage: (result, prices) => anthropicUsage(result, { prices }),
  outputText: (result) =>
    texts(
      (isObject(result) && Array.isArray(result.content) ? result.content : []).map((block) =>
        isObject(block) ? (block.type === 'text' ? block.text : JSON.stringify(block)) : undefined,
      ),
    ),
};

/** One admitted call: the body to send and how to account for it. */
export interface Admitted {
  /** The body to send: degraded, and asking for a chat stream's usage. */
  readonly body: Json;
  /** `body` asks for usage the caller did not (`include_usage`): hide the usage-only chunk from it. */
  readonly injectedUsage: boolean;
  readonly demand: LlmDemand;
  /** How to meter the call's stream: its model, estimated input and prices. */
  readonly meterOptions: StreamMeterOptions;
  /** A meter for the call's stream, settling the call when the stream ends. */
  streamMeter(): StreamMeter;
  /** Records the call's usage (and, per call, releases the lease). Once; failures go to `onError`. */
  settle(usage: Usage | Promise<Usage>): Promise<void>;
  /** Records a response, counting its text when it carries no usage. */
  settleResponse(result: unknown): Promise<void>;
  /** The call failed before any output: per call, the lease is released (refunding it all). */
  abort(): Promise<void>;
}

const OPTIONS = ['limiter', 'identity', 'acquire', 'lease', 'degrade', 'step', 'prices', 'applyDegrade', 'estimate', 'onError', 'maxTokensParam', 'fetch'];

const warn = (error: unknown) => console.warn(`[tollgate] [llm] recording an LLM call failed: ${(error as Error)?.message ?? String(error)}`);

/** Validated `MeterOptions`, and `admit` for every call of one wrapper. */
export class Metering {
  private readonly prices: LlmPriceSource;
  private readonly estimateOptions: EstimateOptions;
  private readonly onError: (error: unknown) => void;
  private readonly step: 'reserve' | 'count' | 'none';
  private readonly applyDegrade: boolean;

  constructor(
    private readonly options: MeterOptions,
    private readonly where: string,
  ) {
    if (typeof options !== 'object' || options === null) throw configurationError(`${where}: options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) if (!OPTIONS.includes(key)) throw configurationError(`${where}: unknown option "${key}"`);
    const { limiter, identity, lease, step = 'reserve', prices = defaultPrices(), onError = warn, applyDegrade = true } = options;
    if ((limiter === undefined) === (lease === undefined)) {
      throw configurationError(`${where}: pass either { limiter, identity } (each call acquires) or { lease, degrade } (calls share one lease)`);
    }
    if (limiter !== undefined && typeof limiter.acquire !== 'function') throw configurationError(`${where}: limiter must be a limiter from createLimiter()`);
    if (limiter !== undefined && (typeof identity !== 'object' || identity === null)) throw configurationError(`${where}: identity is required with limiter, e.g. { user: 'u1' }`);
    if (lease !== undefined && (typeof lease.record !== 'function' || typeof lease.step !== 'function')) {
      throw configurationError(`${where}: lease must be the lease of an allowed acquire (decision.lease)`);
    }
    if (!['reserve', 'count', 'none'].includes(step)) throw configurationError(`${where}: step must be 'reserve', 'count' or 'none', got ${describe(step)}`);
    if (typeof prices?.costOf !== 'function' || typeof prices.lookup !== 'function') throw configurationError(`${where}: prices must come from genaiPrices()`);
    if (typeof onError !== 'function') throw configurationError(`${where}: onError must be a function`);
    this.prices = prices;
    this.onError = onError;
    this.step = step;
    this.applyDegrade = applyDegrade;
    this.estimateOptions = { ...options.estimate, prices };
  }

  /** Estimates, admits (acquire or lease step) and degrades one call; throws `LlmRefusedError` on refusal. */
  async admit(api: Api, raw: unknown, maxTokensParam?: string): Promise<Admitted> {
    if (!isObject(raw)) throw invalidInput(`${this.where}: ${api.name}.create(body) needs the request body, got ${describe(raw)}`);
    const { limiter, identity, acquire } = this.options;
    const { applyDegrade, step } = this;
    let body = raw;
    let demand: LlmDemand;
    let lease: Lease;
    let owned: boolean;
    if (limiter) {
      // The reservation is for the request as asked (the degraded one costs no more); the
      // record prices what was used.
      demand = await api.estimate(body, this.estimateOptions);
      const decision = await limiter.acquire(identity!, demand, acquire);
      if (!decision.allowed) throw new LlmRefusedError(decision);
      if (applyDegrade) body = degraded(body, decision.degrade, api, maxTokensParam);
      lease = decision.lease;
      owned = true;
    } else {
      lease = this.options.lease!;
      owned = false;
      if (applyDegrade) body = degraded(body, this.options.degrade, api, maxTokensParam);
      demand = await api.estimate(body, this.estimateOptions);
      if (step !== 'none') {
        const decision = await lease.step(step === 'reserve' ? demand : undefined);
        if (!decision.allowed) throw new LlmRefusedError(decision);
      }
    }
    let done: Promise<void> | undefined;
    const finish = (usage: Usage | Promise<Usage> | undefined) =>
      (done ??= (async () => {
        try {
          if (usage) await lease.record(await usage);
        } catch (error) {
          this.onError(error);
        }
        if (owned) await lease.release().catch(this.onError);
      })());
    const prices = this.prices;
    const { countTokens } = this.estimateOptions;
    const meterOptions: StreamMeterOptions = { model: body.model as string, inputTokens: demand.inputTokens, prices, countTokens };
    // Without include_usage a chat stream never says what it cost: ask for it (the wrapper hides
    // the answer from a caller who did not).
    const streamOptions = body.stream_options as Json | undefined;
    const injectedUsage = api === CHAT && body.stream === true && streamOptions?.include_usage !== true;
    return {
      body: injectedUsage ? { ...body, stream_options: { ...streamOptions, include_usage: true } } : body,
      injectedUsage,
      demand,
      meterOptions,
      streamMeter: () => streamMeter(api.format, meterOptions),
      settle: (usage) => finish(usage),
      settleResponse: (result) => {
        let usage: Usage | undefined;
        try {
          usage = api.usage(result, prices);
        } catch (error) {
          this.onError(error);
        }
        // A server that reports no usage: the estimated input and the generated text, counted.
        usage ??= { model: body.model as string, inputTokens: demand.inputTokens, outputTokens: countNow(api.outputText(result), body.model as string) };
        return finish(usage);
      },
      abort: () => finish(undefined),
    };
  }
}

/** The body with the degradation step applied: its model, and its output cap. */
function degraded(body: Json, step: DegradeStep | undefined, api: Api, maxTokensParam: string | undefined): Json {
  if (!step || (step.model === undefined && step.maxTokens === undefined)) return body;
  const next: Json = { ...body };
  if (step.model !== undefined) next.model = step.model;
  if (step.maxTokens !== undefined) {
    const present = api.maxTokensFields.filter((field) => typeof body[field] === 'number');
    if (present.length === 0) next[maxTokensParam ?? api.maxTokensFields[0]!] = step.maxTokens;
    for (const field of present) next[field] = Math.min(body[field] as number, step.maxTokens);
  }
  return next;
}

/**
 * Wraps a stream the SDK returned (an async iterable of chunks or events) so that iterating it
 * meters it, and the call is settled when the iteration ends, breaks or fails. The stream object
 * itself is returned (its `controller`, `tee()`, `toReadableStream()` keep working and are metered
 * too, since they read through the same iterator).
 */
export function meterIterable<S extends object>(stream: S, admitted: Admitted): S {
  const iterable = stream as S & { [Symbol.asyncIterator](): AsyncIterator<unknown> };
  if (typeof iterable[Symbol.asyncIterator] !== 'function') {
    void admitted.abort();
    throw invalidInput('the SDK returned a stream that is not async-iterable');
  }
  const source = iterable[Symbol.asyncIterator].bind(stream);
  const meter = admitted.streamMeter();
  const { injectedUsage } = admitted;
  Object.defineProperty(stream, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    value: async function* metered() {
      try {
        for await (const chunk of { [Symbol.asyncIterator]: source }) {
          meter.push(chunk);
          if (injectedUsage && isUsageOnlyChunk(chunk)) continue;
          yield chunk;
        }
      } finally {
        await admitted.settle(meter.usage());
      }
    },
  });
  return stream;
}

/**
 * A metered `create` of an SDK: the call is admitted, sent with the admitted body, and settled from
 * its response or, streamed, as the caller iterates the stream.
 */
export function meteredCreate(metering: Metering, api: Api, original: (body: any, options?: any) => any, maxTokensParam?: string) {
  return async (body: unknown, requestOptions?: unknown) => {
    const admitted = await metering.admit(api, body, maxTokensParam);
    const streaming = admitted.body.stream === true;
    let result: unknown;
    try {
      result = await original(admitted.body, requestOptions);
    } catch (error) {
      await admitted.abort();
      throw error;
    }
    if (streaming) return meterIterable(result as object, admitted);
    await admitted.settleResponse(result);
    return result;
  };
}
