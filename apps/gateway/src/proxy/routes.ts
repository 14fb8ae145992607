import { tollgate, type TollgateRefusal } from '@tollgate/adapter-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiFamily } from '../config/schema.js';
import { parseJsonBodies, requireObjectBody } from '../http/json-body.js';
import { serializedBody } from '../http/long-texts.js';
import type { ApiKeys } from '../keys/api-keys.js';
import { spendRows } from '../ledger/request-rows.js';
import type { SpendLedger } from '../ledger/spend-ledger.js';
import { identityOf } from '../policy.js';
import { allowedModel } from './allowed-models.js';
import { observeBudgets } from './budget-gauge.js';
import { APIS, type Api } from './apis.js';
import { authenticate } from './auth.js';
import { llmDemand, steppedLimiter } from './demand.js';
import { anthropicError, errorHandler, inAnthropicShape, openAiError } from './errors.js';
import { forwardHandler, type ProxyDependencies } from './forward.js';
import { largeBodies } from './large-bodies.js';
import { withReservation } from './refusal-text.js';
import { toolLimits } from './tool-limits.js';
import { callUpstream, cancellation, replyFrom, upstreamFailure, upstreamHeaders, type Upstreams } from './upstream.js';
import type { UpstreamResponse } from './upstream-request.js';

export interface ApiRoutesDependencies extends Omit<ProxyDependencies, 'upstream'> {
  readonly upstreams: Upstreams;
  readonly keys: ApiKeys;
  readonly ledger: SpendLedger;
  readonly maxBodyBytes: number;
}

/** How each family's configuration section is named, for a 404 on a family without an upstream. */
const SECTION: Record<ApiFamily, string> = { openai: 'upstreams.openai (or upstream)', anthropic: 'upstreams.anthropic' };

/** The family a path under `/v1` belongs to: Anthropic's API is `/v1/messages` and below. */
const familyOfPath = (url: string): ApiFamily => (/^\/v1\/messages(?:[/?]|$)/.test(url) ? 'anthropic' : 'openai');

/**
 * The APIs, in their own Fastify context registered under `/v1`: every request needs an API key
 * (the file's, or one the admin API issued); chat completions, responses, embeddings and
 * Anthropic's messages (each where its family has an upstream) are limited per user, key, IP, team
 * and organisation by the tollgate plugin (deciding in `preHandler`, once the body is parsed and
 * estimated with its API's estimate; a caller's large bodies in turn), after a key's model
 * allow-list and the tools past their limits. Each of their requests leaves a row in the spend ledger.
 * Errors are answered in the shape of the API asked: OpenAI's, or Anthropic's on `/v1/messages`;
 * an unknown path too.
 */
export async function apiRoutes(app: FastifyInstance, deps: ApiRoutesDependencies): Promise<void> {
  const { policy, metrics, activity, upstreams } = deps;
  app.decorateRequest('caller', null);
  app.decorateRequest('estimate', null);
  app.decorateRequest('longTexts', null);
  app.decorateRequest('spend', null);
  app.setErrorHandler(errorHandler);
  app.addHook('onRequest', authenticate(policy, deps.keys));
  const openSpendRow = spendRows(app, deps.ledger);
  const large = largeBodies(app, policy);
  parseJsonBodies(app, large.parse);
  app.setNotFoundHandler((request, reply) => {
    const family = familyOfPath(request.url);
    const served = upstreams[family] !== undefined;
    const message = served ? `Invalid URL (${request.method} ${request.url})` : `This gateway has no ${family === 'openai' ? 'OpenAI-compatible' : 'Anthropic'} upstream: its operator can set one under ${SECTION[family]}.`;
    return reply.code(404).send(family === 'anthropic' ? anthropicError(404, message) : openAiError(message, 'invalid_request_error', served ? null : 'upstream_not_configured'));
  });

  const onLimited = (request: FastifyRequest, reply: FastifyReply, { decision, response }: TollgateRefusal) => {
    const denied = decision.deniedBy[0];
    const caller = request.caller!;
    metrics.decisions.inc({ outcome: decision.reason, limit: denied?.name ?? '' });
    observeBudgets(deps, decision.limits, caller);
    activity.denied({ user: caller.user, key: caller.keyId, ip: request.ip, status: response.status, limit: denied?.name ?? null, reason: decision.reason, message: response.body.error.message });
    request.log.warn({ user: caller.user, key: caller.keyId, tier: caller.tier, limit: denied?.name, reason: decision.reason, retryAfterMs: decision.retryAfterMs }, 'request refused');
    const body = denied && (denied.resource === 'tokens' || denied.resource === 'cost') ? withReservation(response.body, request) : response.body;
    return reply.code(response.status).headers(response.headers).header('x-tollgate-tier', caller.tier).send(body);
  };
  await app.register(tollgate, {
    limiter: steppedLimiter(policy),
    identify: (request) => identityOf(request.caller!),
    hook: 'preHandler',
    onLimited,
    onReleaseError: (error) => app.log.error({ err: error }, 'releasing a lease failed; it expires by its TTL'),
  });

  // The body is checked before the tollgate plugin's preHandler: a request that is no JSON object is refused uncounted.
  const forward = (api: Api) => {
    const upstream = upstreams[api.family];
    if (upstream === undefined) return;
    const handle = forwardHandler(api, { ...deps, upstream });
    const shape = api.family === 'anthropic' ? { preSerialization: inAnthropicShape } : {};
    // The route's own preHandler runs before the tollgate plugin's: tools past their limit go first.
    app.post(api.path, { ...shape, bodyLimit: deps.maxBodyBytes, onRequest: openSpendRow, preValidation: [requireObjectBody, allowedModel], preHandler: toolLimits(api, policy, onLimited), config: { tollgate: { demand: llmDemand(policy, api) } } }, (request, reply) => {
      large.decided(request);
      return request.spend!.handling(handle(request, reply));
    });
  };
  for (const api of APIS) forward(api);

  // Listing models and counting a prompt's tokens cost nothing upstream: authenticated, not counted.
  passThrough(app, 'GET', '/models', 'openai', upstreams);
  passThrough(app, 'POST', '/messages/count_tokens', 'anthropic', upstreams);
}

/** A route whose request goes upstream as it came (the gateway's key instead of the client's), uncounted; none where its family has no upstream. */
function passThrough(app: FastifyInstance, method: 'GET' | 'POST', path: string, family: ApiFamily, upstreams: Upstreams): void {
  const upstream = upstreams[family];
  if (upstream === undefined) return;
  const shape = family === 'anthropic' ? { preSerialization: inAnthropicShape } : {};
  app.route({
    method,
    url: path,
    ...shape,
    config: { tollgate: false },
    handler: async (request, reply) => {
      let response: UpstreamResponse;
      const body = method === 'POST' ? serializedBody(request.body, request.longTexts) : undefined;
      try {
        response = await callUpstream(upstream, path, { method, headers: upstreamHeaders(request, upstream, family), body }, cancellation(reply, upstream.timeoutMs).signal);
      } catch (error) {
        const failure = upstreamFailure(error);
        return reply.code(failure.status).send(failure.body);
      }
      return replyFrom(reply, response, upstream).send(await response.bytes());
    },
  });
}
