import { InvalidInputError, UnknownModelError } from '@tollgate/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error body in OpenAI's shape, which the OpenAI SDKs turn into their typed errors. */
export function openAiError(message: string, type: string, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

/**
 * Answers every error in OpenAI's shape: the SDKs read `error.message` and `error.code` from it,
 * and a client of the gateway should not have to know it is not talking to OpenAI.
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof UnknownModelError) {
    const message = `The model "${error.model}" has no price at this gateway, so its cost cannot be budgeted. Ask the gateway's operator to add its price under prices: in the configuration.`;
    return reply.code(400).send(openAiError(message, 'invalid_request_error', 'model_not_priced', 'model'));
  }
  if (error instanceof InvalidInputError) return reply.code(400).send(openAiError(strip(error.message), 'invalid_request_error', 'invalid_request'));
  const status = error.statusCode ?? 500;
  if (status < 500) return reply.code(status).send(openAiError(error.message, 'invalid_request_error', error.code ?? null));
  request.log.error({ err: error }, 'request failed');
  return reply.code(500).send(openAiError('The gateway failed to handle the request.', 'server_error', null));
}

/** Core's messages start with a package tag, which means nothing to an API client. */
const strip = (message: string) => message.replace(/^(\[tollgate\] )?(\[[\w-]+\] )*/, '');
