import { tollgate, type TollgateRefusal } from '@tollgate/adapter-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from './auth.js';
import { chatCompletions, embeddings, responses, type Api } from './apis.js';
import { llmDemand, steppedLimiter } from './demand.js';
import { forwardHandler, type ProxyDependencies } from './forward.js';
import { parseJsonBodies, requireObjectBody } from '../http/json-body.js';
import { largeBodiesInTurn } from './large-bodies.js';
import { errorHandler } from './errors.js';
import { identityOf } from '../policy.js';
import { callUpstream, cancellation, replyFrom, upstreamFailure, upstreamHeaders } from './upstream.js';
import { withReservation } from './refusal-text.js';

/**
 * The OpenAI-compatible API, in its own Fastify context: every request needs a configured API key;
 * chat completions, responses and embeddings are limited per user, key and IP by the tollgate
 * plugin (deciding in `preHandler`, once the body is parsed and estimated with its API's
 * estimate; a caller's large bodies in turn); every error is answered in OpenAI's shape.
 */
export async function openAiRoutes(app: FastifyInstance, deps: ProxyDependencies & { readonly maxBodyBytes: number }): Promise<void> {
  const { policy, metrics, activity, upstream } = deps;
  app.decorateRequest('caller', null);
  app.decorateRequest('estimate', null);
  app.setErrorHandler(errorHandler);
  app.addHook('onRequest', authenticate(policy));
  const turns = largeBodiesInTurn(app);
  parseJsonBodies(app, turns.beforeParsing);

  const onLimited = (request: FastifyRequest, reply: FastifyReply, { decision, response }: TollgateRefusal) => {
    const denied = decision.deniedBy[0];
    const caller = request.caller!;
    metrics.decisions.inc({ outcome: decision.reason, limit: denied?.name ?? '' });
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
    const handle = forwardHandler(api, deps);
    app.post(`/v1${api.path}`, { bodyLimit: deps.maxBodyBytes, preValidation: requireObjectBody, config: { tollgate: { demand: llmDemand(policy, api) } } }, (request, reply) => {
      turns.decided(request);
      return handle(request, reply);
    });
  };
  forward(chatCompletions);
  forward(responses);
  forward(embeddings);

  // Listing models costs nothing upstream, so it is authenticated but not counted.
  app.get('/v1/models', { config: { tollgate: false } }, async (request, reply) => {
    let response: Response;
    try {
      response = await callUpstream(upstream, '/models', { method: 'GET', headers: upstreamHeaders(request, upstream) }, cancellation(reply, upstream.timeoutMs).signal);
    } catch (error) {
      const failure = upstreamFailure(error);
      return reply.code(failure.status).send(failure.body);
    }
    return replyFrom(reply, response, upstream).send(Buffer.from(await response.arrayBuffer()));
  });
}
