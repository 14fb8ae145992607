import { tollgate, type TollgateRefusal } from '@tollgate/adapter-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from './auth.js';
import { chatHandler, type ChatDependencies } from './chat.js';
import { chatDemand, steppedLimiter } from './demand.js';
import { requireObjectBody } from '../http/json-body.js';
import { errorHandler } from './errors.js';
import { identityOf } from '../policy.js';
import { callUpstream, cancellation, replyFrom, upstreamFailure, upstreamHeaders } from './upstream.js';

/**
 * The OpenAI-compatible API, in its own Fastify context: every request needs a configured API key;
 * chat completions are limited per user, key and IP by the tollgate plugin (deciding in
 * `preHandler`, once the body is parsed and estimated); every error is answered in OpenAI's shape.
 */
export async function openAiRoutes(app: FastifyInstance, deps: ChatDependencies & { readonly maxBodyBytes: number }): Promise<void> {
  const { policy, metrics, activity, upstream } = deps;
  app.decorateRequest('caller', null);
  app.decorateRequest('estimate', null);
  app.setErrorHandler(errorHandler);
  app.addHook('onRequest', authenticate(policy));

  const onLimited = (request: FastifyRequest, reply: FastifyReply, { decision, response }: TollgateRefusal) => {
    const denied = decision.deniedBy[0];
    const caller = request.caller!;
    metrics.decisions.inc({ outcome: decision.reason, limit: denied?.name ?? '' });
    activity.denied({ user: caller.user, key: caller.keyId, ip: request.ip, status: response.status, limit: denied?.name ?? null, reason: decision.reason, message: response.body.error.message });
    request.log.warn({ user: caller.user, key: caller.keyId, tier: caller.tier, limit: denied?.name, reason: decision.reason, retryAfterMs: decision.retryAfterMs }, 'request refused');
    return reply.code(response.status).headers(response.headers).header('x-tollgate-tier', caller.tier).send(response.body);
  };
  await app.register(tollgate, {
    limiter: steppedLimiter(policy),
    identify: (request) => identityOf(request.caller!),
    hook: 'preHandler',
    demand: chatDemand(policy),
    onLimited,
    onReleaseError: (error) => app.log.error({ err: error }, 'releasing a lease failed; it expires by its TTL'),
  });

  // The body is checked before the tollgate plugin's preHandler: a request that is no chat request is refused uncounted.
  app.post('/v1/chat/completions', { bodyLimit: deps.maxBodyBytes, preValidation: requireObjectBody }, chatHandler(deps));

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
