import { describeValue } from '../util/describe-value.js';
import { InvalidInputError } from '../errors.js';
import { assertUsd, usdToUnits } from './money.js';
import type { Pricer } from './prices.js';

/**
 * What a request asks for, estimated before the LLM call. Everything is optional.
 *
 * @example { tokens: 3_000, model: 'gpt-4o' }
 */
export interface Demand {
  /**
   * Requests to count against `requests` limits.
   * @default 1
   */
  requests?: number;
  /** Estimated tokens (input + output) to reserve against `tokens` limits. Defaults to `inputTokens + outputTokens`. */
  tokens?: number;
  /** Estimated input tokens: with `outputTokens`, prices the reservation exactly instead of at the dearer rate. */
  inputTokens?: number;
  /** Estimated output tokens (usually `max_tokens`). */
  outputTokens?: number;
  /** Estimated cost in USD to reserve against `cost` limits; overrides pricing by `model`. */
  cost?: number;
  /** The model the call will use: prices the reservation. */
  model?: string;
}

/**
 * What one LLM call actually used, from the provider's response.
 *
 * @example { model: 'gpt-4o', inputTokens: 1_200, cachedInputTokens: 1_000, outputTokens: 800 }
 */
export interface Usage {
  /** The model that served the call; defaults to the lease's model. */
  model?: string;
  /** Input (prompt) tokens, cached ones included. */
  inputTokens?: number;
  /** Output (completion) tokens. */
  outputTokens?: number;
  /** The part of `inputTokens` served from the prompt cache (priced at the cached rate). */
  cachedInputTokens?: number;
  /** The part of `outputTokens` the model spent reasoning: priced as output, with it; for reports. */
  reasoningTokens?: number;
  /** The call's cost in USD, when the provider reports it: overrides pricing. */
  cost?: number;
}

/** A demand in store units. */
export interface DemandUnits {
  readonly requests: number;
  readonly tokens: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Whether the estimate says how its tokens split between input and output. */
  readonly split: boolean;
  /** The cost given with the demand, in units; otherwise it is priced from the model when needed. */
  readonly cost: number | undefined;
  readonly model: string | undefined;
}

const DEFAULT_DEMAND: DemandUnits = Object.freeze({
  requests: 1,
  tokens: 0,
  inputTokens: 0,
  outputTokens: 0,
  split: false,
  cost: undefined,
  model: undefined,
});

const DEMAND_KEYS = new Set(['requests', 'tokens', 'inputTokens', 'outputTokens', 'cost', 'model']);
const USAGE_KEYS = new Set(['model', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'cost']);

/** A token (or request) count: finite and non-negative; fractional estimates round up. */
function count(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidInputError(`${what} must be a finite, non-negative number, got ${describeValue(value)}`);
  }
  return Math.ceil(value);
}

function model(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 256) {
    throw new InvalidInputError(`${what} must be a model name, got ${describeValue(value)}`);
  }
  return value;
}

function assertShape(value: unknown, keys: Set<string>, what: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new InvalidInputError(`${what} must be an object, got ${describeValue(value)}`);
  for (const key in value) {
    if (!keys.has(key)) throw new InvalidInputError(`${what} has unknown field "${key}" (expected ${[...keys].join(', ')})`);
  }
}

/** Validates a demand. Throws `InvalidInputError` before anything is charged. */
export function demandUnits(demand: Demand | undefined): DemandUnits {
  if (demand === undefined) return DEFAULT_DEMAND;
  assertShape(demand, DEMAND_KEYS, 'demand');
  const inputTokens = count(demand.inputTokens, 'demand.inputTokens');
  const outputTokens = count(demand.outputTokens, 'demand.outputTokens');
  let cost: number | undefined;
  if (demand.cost !== undefined) {
    assertUsd(demand.cost, 'demand.cost');
    cost = usdToUnits(demand.cost);
  }
  return {
    requests: demand.requests === undefined ? 1 : count(demand.requests, 'demand.requests'),
    tokens: demand.tokens === undefined ? inputTokens + outputTokens : count(demand.tokens, 'demand.tokens'),
    inputTokens,
    outputTokens,
    split: demand.inputTokens !== undefined || demand.outputTokens !== undefined,
    cost,
    model: model(demand.model, 'demand.model'),
  };
}

/**
 * The cost to reserve, in units: the demand's own cost, else its model's price (only when a cost
 * limit applies, so an unpriced model is fine elsewhere), else nothing. An unknown model throws.
 */
export function reservedCost(demand: DemandUnits, pricer: Pricer, costLimitApplies: boolean): number {
  if (demand.cost !== undefined) return demand.cost;
  if (!costLimitApplies || demand.model === undefined) return 0;
  return demand.split
    ? pricer.costUnits(demand.model, { input: demand.inputTokens, cachedInput: 0, output: demand.outputTokens })
    : pricer.worstCaseUnits(demand.model, demand.tokens);
}

/** Usage in store units. */
export interface UsageUnits {
  tokens: number;
  cost: number;
}

/**
 * Validates one call's usage and prices it. `costNeeded` says whether a cost limit applies: then a
 * cost must be known (from `usage.cost` or a priced model) or the call throws, charging nothing.
 */
export function usageUnits(usage: Usage, defaultModel: string | undefined, pricer: Pricer, costNeeded: boolean): UsageUnits {
  assertShape(usage, USAGE_KEYS, 'usage');
  const input = count(usage.inputTokens, 'usage.inputTokens');
  const output = count(usage.outputTokens, 'usage.outputTokens');
  const cachedInput = count(usage.cachedInputTokens, 'usage.cachedInputTokens');
  if (cachedInput > input) {
    throw new InvalidInputError(`usage.cachedInputTokens (${cachedInput}) is part of inputTokens and cannot exceed it (${input})`);
  }
  const reasoning = count(usage.reasoningTokens, 'usage.reasoningTokens');
  if (reasoning > output) throw new InvalidInputError(`usage.reasoningTokens (${reasoning}) is part of outputTokens and cannot exceed it (${output})`);
  const tokens = input + output;
  if (usage.cost !== undefined) {
    assertUsd(usage.cost, 'usage.cost');
    return { tokens, cost: usdToUnits(usage.cost) };
  }
  const served = model(usage.model, 'usage.model');
  // A served name the prices do not know (a dated snapshot, a router's prefix) is priced as the
  // model the lease was taken for, rather than left uncharged.
  const name = served !== undefined && (pricer.knows(served) || defaultModel === undefined || !pricer.knows(defaultModel)) ? served : defaultModel;
  if (name === undefined) {
    if (costNeeded) throw new InvalidInputError('a cost limit applies: usage needs a model (with a price) or a cost in USD');
    return { tokens, cost: 0 };
  }
  if (!costNeeded && !pricer.knows(name)) return { tokens, cost: 0 };
  return { tokens, cost: pricer.costUnits(name, { input, cachedInput, output }) };
}
