import { errorPrefix, type AcquireOptions, type DegradeStep, type Identity, type Lease, type Limiter, type RecordOptions, type Usage } from '@tollgate/core';
import { countReceived, type EstimateOptions, type LlmDemand } from './estimate.js';
import { configurationError, describeValue, invalidInput, LlmRefusedError } from './errors.js';
import type { WireFormat } from './formats/format.js';
import { isObject, positiveInteger, type Json } from './json.js';
import { capOutput, DEFAULT_MAX_TOKENS, outputPerChoice } from './output.js';
import { defaultPrices, type LlmPriceSource } from './prices.js';
import { resolveStreamOptions, type Meter, type StreamMeterOptions } from './stream-meter.js';

/**
 * How wrapped calls are admitted and accounted. Two modes:
 * - **per call**: `{ limiter, identity }`: each call is its own request (estimate, `acquire`,
 *   record, `release`).
 * - **one lease**: `{ lease, degrade }` from one `acquire`: a whole workflow is one request; each
 *   call reserves its estimate on the lease (`lease.step`) and records its usage, and you release
 *   the lease when the workflow ends.
 *
 * Either way every call is sent with an output cap equal to the output reserved for it, and a
 * call whose usage is not known (a stream cut off before its usage, a response without usable
 * usage, a dropped connection) is recorded as partial, so the lease keeps its reservation.
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
   * Per call: lease options for each `acquire` (`ttl`, `maxSteps`, `maxToolCalls`,
   * `onUnknownUsage`).
   * @default the limiter's
   * @example { acquire: { ttl: '2m', onUnknownUsage: 'counted' } }
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
   * Apply the degradation step: its `maxTokens` lowers the output cap, and its `model` replaces the
   * request's. Per call, the step is only known after the request as asked was reserved, so its
   * model replaces the request's only when the call still fits in that reservation (a step never
   * makes a call dearer than what was reserved).
   * @default true
   * @example { applyDegrade: false } // read decision.degrade yourself
   */
  applyDegrade?: boolean;
  /**
   * Options of the estimates (`defaultMaxTokens`, `imageTokens`, `countTokens`). A request that
   * sets no output limit is reserved, and sent, `defaultMaxTokens` (or the model's maximum output,
   * when lower) as its cap.
   * @default {}
   * @example { estimate: { defaultMaxTokens: 1024 } }
   */
  estimate?: Omit<EstimateOptions, 'prices'>;
  /**
   * Where failures to record or release after a call are reported, and a response's usage that
   * could not be read (a malformed count): the call itself succeeded, and its result is returned.
   * @default console.warn
   * @example { onError: (error) => logger.error(error) }
   */
  onError?: (error: unknown) => void;
}

/** One admitted call: the body to send and how to account for it. */
export interface Admitted {
  /** The body to send: degraded, capped at the output reserved, and asking for a chat stream's usage. */
  readonly body: Json;
  /**
   * `body` asks the stream for usage the caller did not (chat's `include_usage`): tells the events
   * that answer, to hide from the caller. `undefined` when nothing was asked.
   */
  readonly injected: ((event: unknown) => boolean) | undefined;
  readonly demand: LlmDemand;
  /** How to meter the call's stream: its model, estimated input and prices. */
  readonly meterOptions: StreamMeterOptions;
  /** A meter for the call's stream, settling the call when the stream ends. */
  streamMeter(): Meter;
  /**
   * Records the call's usage, as partial unless the provider's final count arrived (`complete`),
   * and, per call, releases the lease. Once; failures go to `onError`.
   */
  settle(usage: Usage | Promise<Usage>, complete: boolean): Promise<void>;
  /** Records a response; one without usable usage as partial, counting its text. */
  settleResponse(result: unknown): Promise<void>;
  /** The call failed; `answered` when the upstream answered with an HTTP error status, so generated nothing. */
  settleFailure(answered: boolean): Promise<void>;
}

/** The call's usage is a lower bound: the lease keeps its reservation (per `onUnknownUsage`). */
const PARTIAL: RecordOptions = { partial: true };

const OPTIONS = ['limiter', 'identity', 'acquire', 'lease', 'degrade', 'step', 'prices', 'applyDegrade', 'estimate', 'onError', 'maxTokensParam', 'fetch', 'onRefusal', 'retryableWithinMs'];

const warn = (error: unknown) => console.warn(`${errorPrefix('llm')} recording an LLM call failed: ${(error as Error)?.message ?? String(error)}`);

/** A call admitted on a lease: what to send, and what it reserved (or, unreserved, its estimate). */
interface Plan {
  readonly lease: Lease;
  /** Per call: the wrapper acquired the lease, and releases it when the call is settled. */
  readonly owned: boolean;
  readonly body: Json;
  readonly demand: LlmDemand;
}

/**
 * Whether `candidate` fits in what was reserved for `reserved`: no more tokens, and no more cost
 * where a price is known.
 */
function fitsIn(candidate: LlmDemand, reserved: LlmDemand): boolean {
  if (candidate.tokens > reserved.tokens) return false;
  return reserved.cost === undefined || (candidate.cost !== undefined && candidate.cost <= reserved.cost);
}

/** Validated `MeterOptions`, and `admit` for every call of one wrapper. */
export class Metering {
  private readonly prices: LlmPriceSource;
  private readonly estimateOptions: EstimateOptions;
  private readonly defaultMaxTokens: number;
  private readonly onError: (error: unknown) => void;
  private readonly step: 'reserve' | 'count' | 'none';
  private readonly applyDegrade: boolean;

  constructor(
    private readonly options: MeterOptions,
    private readonly where: string,
  ) {
    if (typeof options !== 'object' || options === null) throw configurationError(`${where}: options must be an object, got ${describeValue(options)}`);
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
    if (!['reserve', 'count', 'none'].includes(step)) throw configurationError(`${where}: step must be 'reserve', 'count' or 'none', got ${describeValue(step)}`);
    if (typeof prices?.costOf !== 'function' || typeof prices.lookup !== 'function') throw configurationError(`${where}: prices must come from genaiPrices()`);
    if (typeof onError !== 'function') throw configurationError(`${where}: onError must be a function`);
    this.prices = prices;
    this.onError = onError;
    this.step = step;
    this.applyDegrade = applyDegrade;
    this.estimateOptions = { ...options.estimate, prices };
    this.defaultMaxTokens = positiveInteger(options.estimate?.defaultMaxTokens, `${where}: estimate.defaultMaxTokens`) ?? DEFAULT_MAX_TOKENS;
  }

  /**
   * Estimates, admits (acquire or lease step), degrades and caps one call; throws `LlmRefusedError`
   * on refusal.
   */
  async admit(format: WireFormat, raw: unknown, maxTokensParam?: string): Promise<Admitted> {
    if (!isObject(raw)) throw invalidInput(`${this.where}: ${format.sdkCall}(body) needs the request body, got ${describeValue(raw)}`);
    const { lease, owned, body: capped, demand } = this.options.limiter ? await this.admitPerCall(format, raw, maxTokensParam) : await this.admitOnLease(format, raw, maxTokensParam);
    const model = capped.model as string;
    let done: Promise<void> | undefined;
    const settle = (usage: Usage | Promise<Usage> | undefined, partial: boolean) =>
      (done ??= (async () => {
        if (usage !== undefined) await this.record(lease, usage, partial, { model, inputTokens: demand.inputTokens });
        if (owned) await lease.release().catch(this.onError);
      })());
    const prices = this.prices;
    const { countTokens } = this.estimateOptions;
    const meterOptions: StreamMeterOptions = { model, inputTokens: demand.inputTokens, prices, countTokens };
    // A stream that says what it cost only when asked is asked (the wrapper hides the answer from
    // a caller who did not ask).
    const usageOnRequest = format.stream?.usageOnRequest;
    const asked = capped.stream === true ? usageOnRequest?.ask(capped) : undefined;
    return {
      body: asked ?? capped,
      injected: asked && usageOnRequest?.isAnswer,
      demand,
      meterOptions,
      streamMeter: () => {
        if (!format.stream) throw configurationError(`${this.where}: ${format.sdkCall} does not stream`);
        return format.stream.meter(resolveStreamOptions(meterOptions));
      },
      settle: (usage, complete) => settle(usage, !complete),
      settleResponse: (result) => {
        let usage: Usage | undefined;
        try {
          usage = format.usage(result, { prices, model });
        } catch (error) {
          this.onError(error);
        }
        if (usage) return settle(usage, false);
        // No usable usage: the estimated input and the generated text, counted, as a lower bound.
        const counted = countReceived(format.output?.text(result) ?? '', model, { countTokens }).then((outputTokens): Usage => ({ model, inputTokens: demand.inputTokens, outputTokens }));
        return settle(counted, true);
      },
      // An HTTP error status means nothing was generated; any other failure (a dropped
      // connection, a timeout) may have come after the upstream generated, and billed, output.
      settleFailure: (answered) => settle(answered ? undefined : { model, inputTokens: demand.inputTokens }, true),
    };
  }

  /**
   * Per call: the request as asked is reserved, since the decision's degradation step is only
   * known once the decision is made. The step then lowers the cap, and replaces the model only
   * where the call still fits in what was reserved.
   */
  private async admitPerCall(format: WireFormat, raw: Json, maxTokensParam: string | undefined): Promise<Plan> {
    const { limiter, identity, acquire } = this.options;
    const reserved = await format.estimate(raw, this.estimateOptions);
    const decision = await limiter!.acquire(identity!, reserved, acquire);
    if (!decision.allowed) throw new LlmRefusedError(decision);
    const plan = (body: Json, demand: LlmDemand): Plan => ({ lease: decision.lease, owned: true, body, demand });
    const step = this.stepFor(format, decision.degrade);
    try {
      if (step?.model !== undefined && step.model !== raw.model) {
        const degraded = this.capped(format, raw, step.model, step.maxTokens, maxTokensParam);
        const demand = await format.estimate(degraded, this.estimateOptions);
        if (fitsIn(demand, reserved)) return plan(degraded, demand);
      }
      return plan(this.capped(format, raw, raw.model as string, step?.maxTokens, maxTokensParam), reserved);
    } catch (error) {
      await decision.lease.release();
      throw error;
    }
  }

  /** One lease: the step is known before the call, so the degraded, capped call is what is reserved. */
  private async admitOnLease(format: WireFormat, raw: Json, maxTokensParam: string | undefined): Promise<Plan> {
    const lease = this.options.lease!;
    const step = this.stepFor(format, this.options.degrade);
    const body = this.capped(format, raw, step?.model ?? (raw.model as string), step?.maxTokens, maxTokensParam);
    const demand = await format.estimate(body, this.estimateOptions);
    if (this.step !== 'none') {
      const decision = await lease.step(this.step === 'reserve' ? demand : undefined);
      if (!decision.allowed) throw new LlmRefusedError(decision);
    }
    return { lease, owned: false, body, demand };
  }

  /**
   * The degradation step to apply to a call in `format`, if any. A format without output
   * (embeddings) takes none: a ladder's models and caps are generation's.
   */
  private stepFor(format: WireFormat, step: DegradeStep | undefined): DegradeStep | undefined {
    if (!this.applyDegrade || !format.output || !step) return undefined;
    if (!format.fixedModel) return step;
    const { model: _, ...capOnly } = step;
    return capOnly;
  }

  /**
   * The request for `model`, its output capped per choice at the least of: what it may produce as
   * asked (its own cap, or the asked model's default), what `model` may produce, and the step's
   * `maxTokens`. So the cap is never above the output reserved for the request as asked. `field`
   * (`maxTokensParam`) is where a cap goes when the request sets none, if the format has it.
   */
  private capped(format: WireFormat, asked: Json, model: string, maxTokens: number | undefined, field: string | undefined): Json {
    if (!format.output) return { ...asked, model };
    const { fields } = format.output;
    const cap = Math.min(
      outputPerChoice(asked, fields, asked.model as string, this.defaultMaxTokens),
      outputPerChoice(asked, fields, model, this.defaultMaxTokens),
      maxTokens ?? Infinity,
    );
    return capOutput({ ...asked, model }, fields, cap, field !== undefined && fields.includes(field) ? field : undefined);
  }

  /**
   * Records one call's usage. A usage that cannot be counted is recorded as what is known for sure
   * (the estimated input), partial; a record that fails keeps the lease's reservation (core's rule).
   */
  private async record(lease: Lease, usage: Usage | Promise<Usage>, partial: boolean, known: Usage): Promise<void> {
    let counted = known;
    let lowerBound = true;
    try {
      counted = await usage;
      lowerBound = partial;
    } catch (error) {
      this.onError(error);
    }
    try {
      await lease.record(counted, lowerBound ? PARTIAL : undefined);
    } catch (error) {
      this.onError(error);
    }
  }
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
    void admitted.settleFailure(false);
    throw invalidInput('the SDK returned a stream that is not async-iterable');
  }
  const source = iterable[Symbol.asyncIterator].bind(stream);
  const meter = admitted.streamMeter();
  const { injected } = admitted;
  Object.defineProperty(stream, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    value: async function* metered() {
      try {
        for await (const chunk of { [Symbol.asyncIterator]: source }) {
          meter.push(chunk);
          if (injected?.(chunk)) continue;
          yield chunk;
        }
      } finally {
        await admitted.settle(meter.usage(), meter.complete);
      }
    },
  });
  return stream;
}

/**
 * A metered `create` of an SDK: the call is admitted, sent with the admitted body, and settled from
 * its response or, streamed, as the caller iterates the stream.
 */
export function meteredCreate(metering: Metering, format: WireFormat, original: (body: any, options?: any) => any, maxTokensParam?: string) {
  return async (body: unknown, requestOptions?: unknown) => {
    const admitted = await metering.admit(format, body, maxTokensParam);
    const streaming = admitted.body.stream === true;
    let result: unknown;
    try {
      result = await original(admitted.body, requestOptions);
    } catch (error) {
      await admitted.settleFailure(answeredWithStatus(error));
      throw error;
    }
    if (streaming) return meterIterable(result as object, admitted);
    await admitted.settleResponse(result);
    return result;
  };
}

/**
 * Whether an SDK error is the upstream's HTTP answer, not a failure to get one: the SDKs' `APIError`
 * carries its `status`, the AI SDK's `APICallError` its `statusCode`.
 */
export function answeredWithStatus(error: unknown): boolean {
  const answer = error as { status?: unknown; statusCode?: unknown } | null;
  return typeof answer?.status === 'number' || typeof answer?.statusCode === 'number';
}
