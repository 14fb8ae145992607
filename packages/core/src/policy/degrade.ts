import { describeValue } from '../util/describe-value.js';
import { ConfigurationError } from '../errors.js';
import type { CompiledLimit } from './limits.js';

/**
 * One rung of the ladder: applies while the budget's usage ratio is below `below` (the last rung
 * has no `below` and applies to the rest).
 */
export interface DegradeStepConfig {
  /** Upper bound (exclusive) of the usage ratio, in (0, 1]; omit on the last step. */
  below?: number;
  /** The model to use on this step. */
  model?: string;
  /** The `max_tokens` cap to use on this step. */
  maxTokens?: number;
}

/**
 * Graceful degradation: as the `budget` limit fills, the decision says which cheaper model and
 * smaller `max_tokens` to use, before the budget refuses outright.
 *
 * @example
 * { budget: 'daily-usd', steps: [
 *   { below: 0.5, model: 'gpt-4o', maxTokens: 4096 },
 *   { below: 0.8, model: 'gpt-4o-mini', maxTokens: 2048 },
 *   { model: 'gpt-4o-mini', maxTokens: 1024 } ] }
 */
export interface DegradeConfig {
  /** The name of the limit whose usage drives the ladder. */
  budget: string;
  steps: DegradeStepConfig[];
}

/** The step a decision says to apply. */
export interface DegradeStep {
  /** Index into the ladder (0 = the first, least degraded step). */
  step: number;
  model?: string;
  maxTokens?: number;
  /** The budget's usage before this request, as a fraction of its limit. */
  usageRatio: number;
}

/** A validated ladder. */
export interface CompiledDegrade {
  readonly budget: string;
  pick(usageRatio: number): DegradeStep;
}

export function compileDegrade(raw: unknown, limits: readonly CompiledLimit[], where = 'degrade'): CompiledDegrade | undefined {
  if (raw === undefined) return undefined;
  const fail = (message: string): never => {
    throw new ConfigurationError(`${where}: ${message}`);
  };
  if (typeof raw !== 'object' || raw === null) fail(`expected { budget, steps }, got ${describeValue(raw)}`);
  const { budget, steps } = raw as Partial<DegradeConfig>;
  const target = limits.find((limit) => limit.name === budget);
  if (!target) fail(`budget must name one of the policy's limits (${limits.map((l) => l.name).join(', ')}), got ${describeValue(budget)}`);
  if (target!.resource === 'concurrency' || target!.resource === 'toolCalls') {
    fail(`budget "${budget}" is a ${target!.resource} limit; degradation follows a requests, tokens or cost budget`);
  }
  if (!Array.isArray(steps) || steps.length === 0) fail('steps must be a non-empty array');
  let previous = 0;
  steps!.forEach((step, index) => {
    const at = `steps[${index}]`;
    if (typeof step !== 'object' || step === null) fail(`${at} must be an object`);
    const last = index === steps!.length - 1;
    if (last && step.below !== undefined) fail(`${at}: the last step must have no "below" (it covers the rest of the budget)`);
    if (!last) {
      if (typeof step.below !== 'number' || !(step.below > previous) || step.below > 1) {
        fail(`${at}.below must be a number in (${previous}, 1], ascending, got ${describeValue(step.below)}`);
      }
      previous = step.below!;
    }
    if (step.model !== undefined && (typeof step.model !== 'string' || step.model === '')) fail(`${at}.model must be a model name`);
    if (step.maxTokens !== undefined && (!Number.isSafeInteger(step.maxTokens) || step.maxTokens < 1)) {
      fail(`${at}.maxTokens must be a whole number of at least 1, got ${describeValue(step.maxTokens)}`);
    }
  });
  const ladder = steps!.map(({ model, maxTokens }) => ({ model, maxTokens }));
  const bounds = steps!.map((step) => step.below ?? Infinity);
  return {
    budget: budget!,
    pick(usageRatio) {
      const step = bounds.findIndex((below) => usageRatio < below);
      const { model, maxTokens } = ladder[step]!;
      return {
        step,
        usageRatio,
        ...(model !== undefined && { model }),
        ...(maxTokens !== undefined && { maxTokens }),
      };
    },
  };
}
