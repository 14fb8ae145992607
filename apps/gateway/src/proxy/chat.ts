import type { TollgateContext, Usage } from '@tollgate/core';
import { estimateChatCompletion, hideInjectedUsage, meterEventStream, openaiChatUsage, type LlmDemand } from '@tollgate/llm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Activity } from '../dashboard/activity.js';
import type { GatewayMetrics } from '../metrics.js';
import { identityOf, type Caller, type LivePolicy } from '../policy.js';
import { degrade } from './degrade.js';
import { callUpstream, clientGone, replyFrom, upstreamFailure, upstreamHeaders, type Upstream } from './upstream.js';

type Body = Record<string, unknown>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The chat request's estimate, as reserved by the limiter. */
    estimate: LlmDemand | null;
  }
}

export interface ChatDependencies {
  readonly policy: LivePolicy;
  readonly upstream: Upstream;
  readonly metrics: GatewayMetrics;
  readonly activity: Activity;
}

/**
 * The estimate the limiter reserves for a chat request (the adapter's `demand`): the request as it
 * will be sent, that is with the degradation step the caller is on now (`check` charges nothing),
 * its prompt counted with the model's tokenizer and its output limit. Reserving for the requested
 * model and output instead would refuse a caller near the end of a budget outright, before the
 * ladder's cheaper steps could serve them. Should the step change before the decision, the
 * handler applies the decision's step, and the record charges what was actually used.
 */
export function chatDemand(policy: LivePolicy) {
  return async (request: FastifyRequest): Promise<LlmDemand> => {
    const body = request.body as Body;
    const caller = request.caller!;
    const step = policy.config.tiers[caller.tier]?.degrade ? (await policy.limiter.check(identityOf(caller))).degrade : undefined;
    const estimate = await estimateChatCompletion(degrade(body, step, caller.tier, policy.noDearer).body, { prices: policy.prices });
    request.estimate = estimate;
    return estimate;
  };
}

/**
 * `POST /v1/chat/completions`, admitted by the tollgate plugin: applies the degradation step,
 * forwards the request, and records the exact usage the upstream reports (from the JSON body, or
 * from the stream as it passes through) on the request's lease. The plugin releases the lease when
 * the response ends or the client goes away, refunding whatever was reserved and not used.
 */
export function chatHandler({ policy, upstream, metrics, activity }: ChatDependencies) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const context = request.tollgate!;
    const caller = request.caller!;
    const estimate = request.estimate!;
    const requested = request.body as Body;
    const { body: degraded, changed, headers } = degrade(requested, context.degrade, caller.tier, policy.noDearer);
    metrics.decisions.inc({ outcome: 'allowed', limit: '' });
    if (changed) metrics.degraded.inc({ step: String(context.degrade?.step ?? 0) });
    activity.admitted();

    const streaming = degraded.stream === true;
    const streamOptions = (degraded.stream_options ?? {}) as Body;
    // A chat stream reports its usage only when asked: ask, and hide the extra chunk from a client that did not.
    const hideUsage = streaming && streamOptions.include_usage !== true;
    const body = hideUsage ? { ...degraded, stream_options: { ...streamOptions, include_usage: true } } : degraded;
    const model = String(body.model);

    const abandoned = clientGone(reply);
    const started = performance.now();
    let response: Response;
    try {
      response = await callUpstream(upstream, '/chat/completions', { method: 'POST', headers: upstreamHeaders(request, upstream), body: JSON.stringify(body) }, abandoned);
    } catch (error) {
      metrics.upstream.inc({ status: '0' });
      if (abandoned.aborted) return reply.hijack();
      request.log.warn({ err: error, upstream: upstream.baseUrl }, 'upstream call failed');
      const failure = upstreamFailure(error);
      return reply.code(failure.status).headers(headers).send(failure.body);
    }
    const status = String(response.status);
    metrics.upstream.inc({ status });
    metrics.upstreamLatency.observe((performance.now() - started) / 1000, { status });
    replyFrom(reply, response, upstream).headers(headers);

    const settle = async (usage: Usage, how: string) => {
      try {
        const recorded = await context.lease.record(usage);
        metrics.tokens.inc({ kind: 'input' }, usage.inputTokens ?? 0);
        metrics.tokens.inc({ kind: 'output' }, usage.outputTokens ?? 0);
        metrics.spend.inc({}, recorded.cost);
        activity.recorded(recorded.tokens);
        request.log.info(logFields(caller, requested, body, context, { ...usage, cost: recorded.cost }, how, upstream.simulated), 'chat completion');
      } catch (error) {
        request.log.error({ err: error, user: caller.user }, 'recording usage failed; the lease expires by its TTL');
      }
    };

    // An upstream error (bad request, unknown model, its own rate limit) is passed back as it is;
    // nothing is recorded, and releasing the lease refunds the reservation.
    if (!response.ok) return reply.send(Buffer.from(await response.arrayBuffer()));

    if (streaming && response.body && response.headers.get('content-type')?.includes('text/event-stream')) {
      const metered = meterEventStream(response.body, 'openai-chat', { model, inputTokens: estimate.inputTokens, prices: policy.prices }, (usage, end) =>
        settle(usage, end.complete ? 'stream' : `stream ${end.how} before its usage`),
      );
      return reply.send(hideUsage ? metered.pipeThrough(hideInjectedUsage()) : metered);
    }

    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (!abandoned.aborted) throw error;
      // The client left while the answer was arriving: the upstream did the work, so the estimate is charged.
      await settle(reserved(model, estimate), 'json abandoned by the client');
      return reply.hijack();
    }
    await settle(usageOf(text, model, estimate, policy), 'json');
    return reply.send(text);
  };
}

/** What was reserved, as usage: charged when the upstream's own count is missing. */
const reserved = (model: string, estimate: LlmDemand): Usage => ({ model, inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens });

/** A JSON response's usage; a response that reports none (or nonsense) is charged what was reserved for it. */
function usageOf(text: string, model: string, estimate: LlmDemand, policy: LivePolicy): Usage {
  try {
    return openaiChatUsage(JSON.parse(text), { prices: policy.prices }) ?? reserved(model, estimate);
  } catch {
    return reserved(model, estimate);
  }
}

function logFields(caller: Caller, requested: Body, sent: Body, context: TollgateContext, usage: Usage, how: string, simulated: boolean) {
  return {
    user: caller.user,
    key: caller.keyId,
    tier: caller.tier,
    requestedModel: requested.model,
    model: sent.model,
    degradeStep: context.degrade?.step,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    costUsd: usage.cost,
    metered: how,
    ...(simulated && { upstream: 'simulated' }),
  };
}
