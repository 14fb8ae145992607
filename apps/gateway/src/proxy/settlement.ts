import { unitsToUsd, usdToUnits, type RecordResult, type TollgateContext, type Usage } from '@tollgate/core';
import type { FastifyRequest } from 'fastify';
import type { Activity } from '../dashboard/activity.js';
import type { SettledCall } from '../ledger/request-rows.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Caller } from '../policy.js';

type Body = Record<string, unknown>;

/** A call's usage as the gateway learnt it. */
export interface Metered {
  readonly usage: Usage;
  /**
   * Whether it is the upstream's own count. `false`: only what could be counted (a stream cut off
   * before its usage, a response without usable usage), a lower bound: the lease's
   * `onUnknownUsage` rule says what it costs (by default, its whole reservation).
   */
  readonly known: boolean;
  /** Where it came from, for the log (`json`, `stream cancelled by the client before its usage`, …). */
  readonly how: string;
  /** The tools the model called (one name per call), charged against the caller's `toolCalls` limits. */
  readonly toolCalls?: readonly string[];
}

/** One forwarded call: what settling it needs to record, count and log. */
export interface Call {
  readonly request: FastifyRequest;
  readonly context: TollgateContext;
  readonly caller: Caller;
  readonly requested: Body;
  readonly sent: Body;
  /** What one call of its API is called in the log (`Api.call`). */
  readonly call: string;
  readonly metrics: GatewayMetrics;
  readonly activity: Activity;
  readonly simulated: boolean;
  /** Whether the caller's tier has `toolCalls` limits to charge the model's tool calls against. */
  readonly limitsTools: boolean;
}

/** Settles a call with its usage as the gateway learnt it. */
export type Settle = (metered: Metered) => Promise<void>;

const PARTIAL = { partial: true } as const;

/**
 * Settles one forwarded call on the request's lease: records its usage (a lower bound with
 * `partial`, when the upstream's count is missing), counts it in the metrics, logs what was
 * charged, hands it to the request's spend ledger row, and reports an overrun (usage beyond the
 * reservation: an upstream that ignored the cap or over-reports). A client that goes away has its lease released before a cut stream is
 * metered; the partial record that follows charges back what the release refunded (core's rule).
 */
export function settlement(call: Call): Settle {
  const { context } = call;
  const { lease } = context;
  const reserved = { tokens: lease.totals.reservedTokens, cost: lease.totals.reservedCost };
  const model = String(call.sent.model);

  const settle = async ({ usage, known, how, toolCalls = [] }: Metered): Promise<SettledCall> => {
    const { request, caller, metrics, activity } = call;
    // Before the lease ends: its tool calls count under the request's identity.
    if (toolCalls.length > 0 && call.limitsTools) await chargeToolCalls(call, toolCalls);
    let recorded: RecordResult;
    try {
      // The call is over: its usage and the release go to the store in one call.
      recorded = await lease.finish(usage, known ? undefined : PARTIAL);
    } catch (error) {
      metrics.spend.inc({}, reserved.cost);
      request.log.error(
        { err: error, user: caller.user, key: caller.keyId, model, reservedTokens: reserved.tokens, reservedUsd: reserved.cost, metered: how },
        'recording usage failed: the call is charged its reservation, which the lease keeps',
      );
      return { model, usage, known, toolCalls: toolCalls.length, costNanoUsd: usdToUnits(reserved.cost) };
    }
    // The lease keeps its whole reservation: the usage is unknown (or a client left before it was known).
    const kept = lease.totals.unknownUsage;
    const charged = kept ? { tokens: Math.max(reserved.tokens, recorded.tokens), cost: Math.max(reserved.cost, recorded.cost) } : recorded;
    metrics.tokens.inc({ kind: 'input' }, usage.inputTokens ?? 0);
    metrics.tokens.inc({ kind: 'output' }, usage.outputTokens ?? 0);
    metrics.spend.inc({}, charged.cost);
    activity.recorded(charged.tokens);
    const fields = {
      user: caller.user,
      key: caller.keyId,
      tier: caller.tier,
      requestedModel: call.requested.model,
      model,
      degradeStep: context.degrade?.step,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      usage: known ? 'reported' : 'unknown',
      charged: kept ? 'reservation' : known ? 'usage' : 'counted',
      costUsd: charged.cost,
      metered: how,
      ...(call.simulated && { upstream: 'simulated' }),
    };
    const message = kept
      ? `${call.call}: ${known ? 'the client left before the call was settled' : 'usage unknown'}, charged its reservation`
      : known
        ? call.call
        : `${call.call}: usage unknown, charged what was counted (onUnknownUsage: counted)`;
    request.log.info(fields, message);
    // The amounts are whole nano-dollars the lease reported in USD: converting back is exact.
    const settled = { model, usage, known, toolCalls: toolCalls.length, costNanoUsd: usdToUnits(charged.cost) };

    const costLimited = context.decision.limits.some((limit) => limit.resource === 'cost');
    const overrunTokens = Math.max(0, recorded.tokens - reserved.tokens);
    const overrunUnits = costLimited ? Math.max(0, usdToUnits(recorded.cost) - usdToUnits(reserved.cost)) : 0;
    if (overrunTokens === 0 && overrunUnits === 0) return settled;
    metrics.overruns.inc();
    metrics.overrunUsd.inc({}, unitsToUsd(overrunUnits));
    request.log.warn(
      { user: caller.user, key: caller.keyId, model, servedModel: usage.model, reservedTokens: reserved.tokens, reportedTokens: recorded.tokens, reservedUsd: reserved.cost, reportedUsd: recorded.cost, metered: how },
      'the upstream reported more than was reserved for the call (it ignored the output cap or over-reports): the overrun is charged, and the caller is refused while the budget has no room',
    );
    return settled;
  };
  // The request's ledger row waits for what its call was charged, however late that is known.
  return async (metered) => {
    const settled = settle(metered);
    call.request.spend?.settling(settled);
    await settled;
  };
}

/**
 * Charges each tool the model called against the caller's `toolCalls` limits. The calls were made:
 * one past a limit is not charged (the limit is full) but logged; the caller's next request that
 * offers the tool meets the spent limit (see `toolLimits`).
 */
async function chargeToolCalls({ context, request, caller }: Call, toolCalls: readonly string[]): Promise<void> {
  const past: string[] = [];
  for (const name of toolCalls) {
    try {
      if (!(await context.lease.tool(name)).allowed) past.push(name);
    } catch (error) {
      request.log.error({ err: error, user: caller.user, tool: name }, 'charging a tool call failed');
    }
  }
  if (past.length > 0) request.log.warn({ user: caller.user, key: caller.keyId, tools: past }, 'the model called tools past their limit: the next request offering them meets the spent limit');
}
