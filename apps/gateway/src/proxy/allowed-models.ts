import type { FastifyReply, FastifyRequest } from 'fastify';
import { openAiError } from './errors.js';

/**
 * A `preValidation` hook (before anything is counted) for a key with an allow-list of models: a
 * request for another model gets a 403, uncounted.
 */
export async function allowedModel(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const allowed = request.caller?.models;
  const model = (request.body as Record<string, unknown>).model;
  if (allowed === undefined || (typeof model === 'string' && allowed.includes(model))) return undefined;
  const message = `This API key may not use the model ${JSON.stringify(model)}: it may use ${allowed.map((name) => JSON.stringify(name)).join(', ')}.`;
  return reply.code(403).send(openAiError(message, 'invalid_request_error', 'model_not_allowed', 'model'));
}
