import { InvalidInputError, UnknownModelError } from '@tollgate/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error body in OpenAI's shape, which the OpenAI SDKs turn into their typed errors. */
export function openAiError(message: string, type: string, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

type OpenAiError = ReturnType<typeof openAiError>;

/** Anthropic's error type for each status the gateway answers with (its SDKs type errors by status). */
const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
};

/** An error body in Anthropic's shape, for a response of `status`. */
export function anthropicError(status: number, message: string) {
  return { type: 'error', error: { type: ANTHROPIC_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message } };
}

/** Whether `payload` is an error body the gateway built in OpenAI's shape. */
function isOpenAiError(payload: unknown): payload is OpenAiError {
  const error = (payload as Partial<OpenAiError> | null)?.error;
  return typeof error === 'object' && error !== null && typeof error.message === 'string' && !('type' in (payload as object));
}

/**
 * A `preSerialization` hook for the routes of Anthropic's API: every error body the gateway
 * builds (refusals, authentication, bad requests, upstream failures) is built in OpenAI's shape,
 * and sent in Anthropic's. What the upstream answers passes through as it is.
 */
export async function inAnthropicShape(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  return isOpenAiError(payload) ? anthropicError(reply.statusCode, payload.error.message) : payload;
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
