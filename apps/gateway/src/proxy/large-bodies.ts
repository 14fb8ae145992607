import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BeforeParsing } from '../http/json-body.js';
import { Turns, type Turn } from '../http/turns.js';

/** A body this large is decoded, parsed and estimated in its caller's turn. */
export const LARGE_BODY_BYTES = 64 * 1024;

export interface LargeBodyTurns {
  /** For `parseJsonBodies`: a large body waits for its caller's turn once it has arrived. */
  readonly beforeParsing: BeforeParsing;
  /** Passes the request's turn on, once its decision is made (the route handler runs). */
  decided(request: FastifyRequest): void;
}

/**
 * One caller's large bodies are decoded, parsed and estimated one at a time, each up to its
 * decision. Before the decision, a megabyte of prompt costs the event loop milliseconds, in
 * slices; a caller with many such requests at once would take as many slices of every turn of the
 * loop, and everyone's requests would wait between them. In turns, a caller has at most one large
 * body in that work, whatever its concurrency; the others wait, read but not decoded. Small bodies
 * never wait. The turn is passed on when the handler starts, when the response is sent (a refusal,
 * an error) or when the client goes away.
 */
export function largeBodiesInTurn(app: FastifyInstance): LargeBodyTurns {
  const turns = new Turns();
  const turnOf = new WeakMap<FastifyRequest, Turn>();
  const decided = (request: FastifyRequest) => turnOf.get(request)?.pass();
  app.addHook('onResponse', async (request) => decided(request));
  app.addHook('onRequestAbort', async (request) => decided(request));
  return {
    beforeParsing: (request, bytes) => {
      if (bytes < LARGE_BODY_BYTES) return undefined;
      const turn = turns.take(request.caller!.user);
      turnOf.set(request, turn);
      return turn.ready;
    },
    decided,
  };
}
