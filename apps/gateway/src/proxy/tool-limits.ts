import { DEFAULT_HEADER_FAMILIES, refusalResponse, type LimitState } from '@tollgate/core';
import type { TollgateRefusal } from '@tollgate/adapter-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { identityOf, type LivePolicy } from '../policy.js';
import type { Api } from './apis.js';
import { offeredTools, withoutTools } from './tools.js';

type Body = Record<string, unknown>;

/** Answers a refusal as the limiter's own are answered (metrics, activity, log, the API's error shape). */
export type OnLimited = (request: FastifyRequest, reply: FastifyReply, refusal: TollgateRefusal) => unknown;

/**
 * A route's `preHandler` (it runs before the limiter's decision) for an API with tools, on a tier
 * with `toolCalls` limits. The model's tool calls are charged once it has answered (`settlement`),
 * so a caller learns that a tool's limit is spent on the next request offering the model that tool:
 * it is refused with the limit's 429, or, on a tier with `overToolLimit: remove`, sent without the
 * tool, said in `x-tollgate-tools-removed` (and the limit in `x-tollgate-tool-limit`). Reading the
 * limits is one more store call, made only for a request that offers tools on such a tier.
 */
export function toolLimits(api: Api, policy: LivePolicy, onLimited: OnLimited) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const caller = request.caller!;
    const { toolName } = api;
    if (toolName === undefined || !policy.limitsTools(caller.tier)) return undefined;
    const body = request.body as Body;
    const offered = offeredTools(body, toolName);
    if (offered.length === 0) return undefined;
    const spent = (await policy.limiter.usage(identityOf(caller))).filter((state) => state.resource === 'toolCalls' && state.remaining <= 0);
    const blocked = new Set(offered.filter((name) => spent.some((state) => state.tool === undefined || state.tool === name)));
    if (blocked.size === 0) return undefined;
    const now = Date.now();
    const limits = spent.filter((state) => state.tool === undefined || blocked.has(state.tool)).map((state): LimitState => ({ ...state, retryAfterMs: Math.max(1, state.resetAt - now) }));
    reply.header('x-tollgate-tool-limit', limits.map((state) => state.name).join(', '));
    if (policy.config.overToolLimit[caller.tier] === 'remove') {
      request.body = withoutTools(body, blocked, toolName);
      reply.header('x-tollgate-tools-removed', [...blocked].join(', '));
      request.log.info({ user: caller.user, key: caller.keyId, tools: [...blocked], limits: limits.map((state) => state.name) }, 'tools past their limit removed from the request');
      return undefined;
    }
    limits.sort((a, b) => b.retryAfterMs! - a.retryAfterMs!);
    const decision = { allowed: false as const, reason: 'limited' as const, retryAfterMs: limits[0]!.retryAfterMs!, deniedBy: limits, limits };
    const response = refusalResponse(decision, DEFAULT_HEADER_FAMILIES, now);
    const message = `${response.body.error.message} The request offers the model ${[...blocked].join(', ')}, whose calls are past the limit: send it without ${blocked.size === 1 ? 'that tool' : 'those tools'}, or retry later.`;
    return onLimited(request, reply, { decision, response: { ...response, body: { error: { ...response.body.error, message } } } });
  };
}
