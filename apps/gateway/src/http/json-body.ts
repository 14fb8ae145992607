import { InvalidInputError } from '@tollgate/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * How deeply a request body's JSON may nest (the body itself is level 1). A chat request needs a
 * handful of levels (messages, content parts, tool schemas); code that walks a body recursively
 * (the estimator, the upstream's parser) must not meet thousands.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays deeper than `max`; iterative, so a deep value cannot overflow the stack. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Two parallel stacks rather than an object per node: every chat request's body goes through here.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Waits, if need be, before a body of `bytes` is decoded and parsed (see `largeBodiesInTurn`). */
export type BeforeParsing = (request: FastifyRequest, bytes: number) => Promise<void> | undefined;

/**
 * Replaces Fastify's JSON body parser, in `app`'s context, with the same parser (prototype
 * poisoning refused) that also refuses bodies nested deeper than `MAX_JSON_DEPTH`, with a 400
 * before any handler sees them. The body is read as bytes and decoded here, after `before`.
 */
export function parseJsonBodies(app: FastifyInstance, before?: BeforeParsing): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    const parseNow = () =>
      parse(request, bytes.toString('utf8'), (error, value) => {
        if (error) return done(error);
        if (nestedDeeperThan(value, MAX_JSON_DEPTH)) return done(new InvalidInputError(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`));
        return done(null, value);
      });
    const waiting = before?.(request, bytes.length);
    if (waiting === undefined) parseNow();
    else waiting.then(parseNow, (error: Error) => done(error));
  });
}

/** A `preValidation` hook for routes whose body must be a JSON object (OpenAI's requests all are). */
export async function requireObjectBody(request: FastifyRequest): Promise<void> {
  const { body } = request;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError('The request body must be a JSON object.');
}
