import type { HttpErrorBody } from '@tollgate/core';
import type { FastifyRequest } from 'fastify';
import { chatCompletions, embeddings, responses } from './apis.js';

const APIS = [chatCompletions, responses, embeddings];

/**
 * A token or budget refusal's body, its message saying what the request reserved: a caller near a
 * limit otherwise cannot tell that a request without an output cap reserves the default output
 * (4,096 tokens), nor that asking for less would fit.
 */
export function withReservation(body: HttpErrorBody, request: FastifyRequest): HttpErrorBody {
  const estimate = request.estimate;
  if (!estimate) return body;
  const { inputTokens, outputTokens, tokens } = estimate;
  let reserved = `This request reserved ${tokens} tokens: ${inputTokens} for its prompt`;
  if (outputTokens === 0) return withMessage(body, `${reserved}.`);
  reserved += ` and ${outputTokens} for its output`;
  const fields = APIS.find((api) => `/v1${api.path}` === request.routeOptions.url)?.output?.fields ?? [];
  const requestBody = request.body as Record<string, unknown>;
  const defaulted = fields.length > 0 && fields.every((field) => requestBody[field] === undefined || requestBody[field] === null);
  if (defaulted) reserved += `, the default cap since it sets no ${fields.join(' or ')}`;
  return withMessage(body, `${reserved}. Set a lower cap to fit.`);
}

function withMessage(body: HttpErrorBody, sentence: string): HttpErrorBody {
  return { error: { ...body.error, message: `${body.error.message} ${sentence}` } };
}
