import type { AcquireDecision, Demand, DegradeStep, Limiter } from '@tollgate/core';
import type { LlmDemand } from '@tollgate/llm';
import type { FastifyRequest } from 'fastify';
import { countedTexts } from '../http/long-texts.js';
import { identityOf, type LivePolicy } from '../policy.js';
import type { Api } from './apis.js';
import { applyStep } from './degrade.js';

type Body = Record<string, unknown>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's estimate, as reserved by the limiter. */
    estimate: LlmDemand | null;
  }
}

/** An estimate made from a hint of the caller's step, and how to make it again for the step a decision saw. */
interface Hinted {
  readonly step: DegradeStep | undefined;
  again(step: DegradeStep | undefined): Promise<LlmDemand>;
}

/** Estimates made from a hint (the adapter hands the demand to the limiter as it was returned). */
const hinted = new WeakMap<Demand, Hinted>();

/**
 * The estimate the limiter reserves for a request to `api` (the adapter's `demand`): the request as
 * it will be sent, that is with the degradation step the caller is on, its prompt counted with the
 * model's tokenizer and its output limit (the estimator's default when it has none). Reserving for
 * the requested model and output instead would refuse a caller near the end of a budget outright,
 * before the ladder's cheaper steps could serve them.
 *
 * The step is the one the caller's last decision saw, when that was within the last second (every
 * busy caller): one store call per request. Otherwise it is read with `check` (charges nothing).
 * A stale hint cannot break a budget: whatever the decision's step, the handler sends no more than
 * this estimate covers; and a refusal whose step differs from the hint's is decided again by
 * `steppedLimiter` with the decision's own step, so the hint never refuses a request that the
 * cheaper step would have served.
 */
export function llmDemand(policy: LivePolicy, api: Api) {
  return async (request: FastifyRequest): Promise<LlmDemand> => {
    const body = request.body as Body;
    const caller = request.caller!;
    const estimateFor = async (step: DegradeStep | undefined) => {
      const { longTexts } = request;
      const estimate = await api.estimate(applyStep(body, step, policy.noDearer, api.output), { prices: policy.prices, ...(longTexts && { countedTexts: countedTexts(longTexts) }) });
      request.estimate = estimate;
      return estimate;
    };
    // No step changes a request of an API without output: no need to read the caller's.
    if (api.output === undefined || !policy.config.tiers[caller.tier]?.degrade) return estimateFor(undefined);
    const { steps } = policy;
    const hint = steps.get(caller.user, Date.now());
    if (hint === undefined) {
      const { degrade } = await policy.limiter.check(identityOf(caller));
      steps.remember(caller.user, degrade, Date.now());
      return estimateFor(degrade);
    }
    const estimate = await estimateFor(hint.step);
    hinted.set(estimate, { step: hint.step, again: estimateFor });
    return estimate;
  };
}

/**
 * The policy's limiter, seen by the tollgate plugin: a request estimated from a stale hint of
 * its step and refused is decided once more with the step its refusal saw (a refusal charges
 * nothing), as if that step had been read first. Every decision on a ladder's tier leaves its step
 * as the caller's next hint.
 */
export function steppedLimiter(policy: LivePolicy): Limiter {
  const decide = async (identity: Parameters<Limiter['acquire']>[0], demand: Demand | undefined, options: Parameters<Limiter['acquire']>[2]): Promise<AcquireDecision> => {
    const decision = await policy.limiter.acquire(identity, demand, options);
    const hint = demand && hinted.get(demand);
    if (hint === undefined || typeof identity.user !== 'string') return decision;
    policy.steps.remember(identity.user, decision.degrade, Date.now());
    if (decision.allowed || decision.reason !== 'limited' || decision.degrade?.step === hint.step?.step) return decision;
    const again = await policy.limiter.acquire(identity, await hint.again(decision.degrade), options);
    policy.steps.remember(identity.user, again.degrade, Date.now());
    return again;
  };
  return { ...policy.limiter, acquire: decide };
}
