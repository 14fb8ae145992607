import type { Usage } from '@tollgate/core';
import { toolCallsOf, type LlmDemand, type LlmPriceSource, type StreamEnd } from '@tollgate/llm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BudgetAlerts } from '../alerts/budget-alerts.js';
import type { Activity } from '../dashboard/activity.js';
import { serializedBody } from '../http/long-texts.js';
import type { GatewayMetrics } from '../metrics.js';
import type { LivePolicy } from '../policy.js';
import type { Api } from './apis.js';
import { observeBudgets } from './budget-gauge.js';
import { applyStep, describeRewrite } from './degrade.js';
import { openAiError } from './errors.js';
import { withinReservation } from './reservation.js';
import { meteredStream } from './metered-stream.js';
import { settlement, type Metered } from './settlement.js';
import { callUpstream, cancellation, reachedUpstream, replyFrom, upstreamFailure, upstreamHeaders, type Upstream } from './upstream.js';
import type { UpstreamResponse } from './upstream-request.js';

type Body = Record<string, unknown>;

export interface ProxyDependencies {
  readonly policy: LivePolicy;
  readonly upstream: Upstream;
  readonly metrics: GatewayMetrics;
  readonly activity: Activity;
  /** Budget alerts, when the configuration has a webhook. */
  readonly alerts?: BudgetAlerts;
}

/**
 * A `POST` to one of the APIs (`apis.ts`), admitted by the tollgate plugin: applies the
 * degradation step within what was reserved, sends the request with an output cap equal to the
 * reserved output (for an API that has output), and records the usage the upstream reports (from
 * the JSON body, or from the stream as it passes through) on the request's lease. Usage that is
 * unknown (a stream cut off before its usage, a response without usable usage, a client gone
 * before the answer) is recorded as partial, and the lease's rule charges it (by default, its
 * reservation). The plugin releases the lease when the response ends or the client goes away,
 * refunding whatever was reserved and not used.
 */
export function forwardHandler(api: Api, { policy, upstream, metrics, activity, alerts }: ProxyDependencies) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const context = request.tollgate!;
    const caller = request.caller!;
    const estimate = request.estimate!;
    const requested = request.body as Body;
    const { output } = api;
    const sent = withinReservation(applyStep(requested, context.degrade, policy.noDearer, output), estimate, policy.noDearer, output);
    const { changed, headers } = describeRewrite(requested, sent, context.degrade, caller.tier, output);
    metrics.decisions.inc({ outcome: 'allowed', limit: '' });
    observeBudgets({ metrics, alerts }, context.decision.limits, caller);
    if (changed) metrics.degraded.inc({ step: String(context.degrade?.step ?? 0) });
    activity.admitted();

    const streaming = api.stream !== undefined && sent.stream === true;
    // Asked for the usage the client did not ask for: the events that answer are hidden from it.
    const asked = streaming ? api.askUsage?.(sent) : undefined;
    const body = asked ?? sent;
    const model = String(body.model);
    const settle = settlement({ request, context, caller, requested, sent, call: api.call, metrics, activity, simulated: upstream.simulated, limitsTools: api.toolName !== undefined && policy.limitsTools(caller.tier) });
    const unknown = (how: string): Metered => ({ usage: lowerBound(model, estimate), known: false, how });

    const cancel = cancellation(reply, upstream.timeoutMs);
    const started = performance.now();
    let response: UpstreamResponse;
    try {
      response = await callUpstream(upstream, api.path, { method: 'POST', headers: upstreamHeaders(request, upstream, api.family), body: serializedBody(body, request.longTexts) }, cancel.signal);
    } catch (error) {
      metrics.upstream.inc({ status: '0' });
      const failure = upstreamFailure(error);
      // An upstream that had the request may have worked on it: its usage is unknown.
      if (reachedUpstream(error)) await settle(unknown(cancel.clientGone ? 'client left before the upstream answered' : FAILED_BEFORE_ANSWER[failure.status]));
      if (cancel.clientGone) return reply.hijack();
      request.log.warn({ err: error, upstream: upstream.baseUrl }, 'upstream call failed');
      return reply.code(failure.status).headers(headers).send(failure.body);
    }
    const status = String(response.status);
    metrics.upstream.inc({ status });
    metrics.upstreamLatency.observe((performance.now() - started) / 1000, { status });
    replyFrom(reply, response, upstream).headers(headers);

    // An upstream error (bad request, unknown model, its own rate limit) is passed back as it is;
    // nothing is recorded, and releasing the lease refunds the reservation.
    if (!response.ok) return reply.send(await response.bytes());

    if (streaming && response.headers['content-type']?.includes('text/event-stream')) {
      // Settled as soon as the client goes away, in the same turn as the lease's release: a later
      // settlement would leave the refunded reservation free for other requests meanwhile.
      const metered = meteredStream(
        response.body,
        api.stream!,
        { model, inputTokens: estimate.inputTokens, prices: policy.prices },
        (usage, end) => settle({ usage, known: end.complete, how: end.complete ? 'stream' : `stream ${streamCut(end, cancel.clientGone)} before its usage`, toolCalls: end.toolCalls }),
        { hideInjectedUsage: asked !== undefined, gone: cancel.signal },
      );
      request.spend?.streaming();
      return reply.send(metered);
    }

    let text: string;
    try {
      text = (await response.bytes()).toString('utf8');
    } catch (error) {
      // Cut off while the answer was arriving: the upstream did the work, but its count never came.
      if (cancel.clientGone) {
        await settle(unknown('json abandoned by the client'));
        return reply.hijack();
      }
      await settle(unknown('json cut off by the upstream'));
      request.log.warn({ err: error, upstream: upstream.baseUrl }, 'the upstream failed while sending its answer');
      return reply.code(502).send(openAiError('The upstream API failed while sending its answer.', 'api_error', 'upstream_failed'));
    }
    await settle(jsonUsage(api, text, model, estimate, policy.prices));
    return reply.send(text);
  };
}

/** How a call that reached the upstream failed before its answer, for the log. */
const FAILED_BEFORE_ANSWER: Record<ReturnType<typeof upstreamFailure>['status'], string> = { 504: 'upstream timed out', 502: 'upstream connection lost before its answer' };

/**
 * How a stream ended without its usage, for the log. The meter sees a cancellation when the
 * call's signal aborts: the client left, or else the upstream's timeout passed.
 */
function streamCut(end: StreamEnd, clientGone: boolean): string {
  if (clientGone) return 'cancelled by the client';
  return { done: 'ended', cancelled: 'timed out', error: 'cut off by the upstream' }[end.how];
}

/** What is known of a call whose count never came: the prompt as estimated, no output seen. */
const lowerBound = (model: string, estimate: LlmDemand): Usage => ({ model, inputTokens: estimate.inputTokens, outputTokens: 0 });

/** A JSON response's usage and tool calls; when it carries no usage that is usable, a lower bound marked unknown. */
function jsonUsage(api: Api, text: string, model: string, estimate: LlmDemand, prices: LlmPriceSource): Metered {
  let response: unknown;
  try {
    response = JSON.parse(text);
  } catch {
    // Not JSON: no usage, nor tool calls, to read.
  }
  const toolCalls = api.output && response !== undefined ? toolCallsOf(response, api.output.format) : [];
  try {
    const usage = api.usage(response, { prices, model });
    if (usage) return { usage, known: true, how: 'json', toolCalls };
  } catch {
    // Counts that are no counts: unusable, as if absent.
  }
  return { usage: lowerBound(model, estimate), known: false, how: 'json without usable usage', toolCalls };
}
