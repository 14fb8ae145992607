import { InvalidInputError } from '@tollgate/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_JSON_DEPTH, nestedDeeperThan, nestedTooDeep } from './json-depth.js';

/** Parses a body elsewhere (see `largeBodies`), or returns `undefined` to have it parsed at once, here. */
export type ParseElsewhere = (request: FastifyRequest, bytes: Buffer) => Promise<unknown> | undefined;

/**
 * Replaces Fastify's JSON body parser, in `app`'s context, with the same parser (prototype
 * poisoning refused) that also refuses bodies nested deeper than `MAX_JSON_DEPTH`, with a 400
 * before any handler sees them. The body is read as bytes, and decoded here unless `elsewhere`
 * takes it.
 */
export function parseJsonBodies(app: FastifyInstance, elsewhere?: ParseElsewhere): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    const parsing = elsewhere?.(request, bytes);
    if (parsing !== undefined) return void parsing.then((value) => done(null, value), done);
    parse(request, bytes.toString('utf8'), (error, value) => {
      if (error) return done(error);
      if (nestedDeeperThan(value, MAX_JSON_DEPTH)) return done(nestedTooDeep());
      return done(null, value);
    });
  });
}

/** A `preValidation` hook for routes whose body must be a JSON object (OpenAI's requests all are). */
export async function requireObjectBody(request: FastifyRequest): Promise<void> {
  const { body } = request;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError('The request body must be a JSON object.');
}
