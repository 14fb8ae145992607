import { InvalidInputError } from '@tollgate/core';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { LONG_TEXT_CHARS, type BodyRefusal } from '../http/body-protocol.js';
import { BodyThread } from '../http/body-thread.js';
import type { ParseElsewhere } from '../http/json-body.js';
import { nestedTooDeep } from '../http/json-depth.js';
import type { LongTexts } from '../http/long-texts.js';
import { Turns, type Turn } from '../http/turns.js';
import type { LivePolicy } from '../policy.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A large body's long texts, which its parsed body holds stand-ins for (see `LongTexts`); null for others. */
    longTexts: LongTexts | null;
  }
}

/** A body this large is parsed in the body thread, in its caller's turn. */
export const LARGE_BODY_BYTES = 64 * 1024;

export interface LargeBodies {
  /** For `parseJsonBodies`: takes a large body to the body thread once its caller's turn comes. */
  readonly parse: ParseElsewhere;
  /** Passes the request's turn on, once its decision is made (the route handler runs). */
  decided(request: FastifyRequest): void;
}

/** The 400 for each way a body can be no request, as the parser on the event loop words it. */
const REFUSALS: Record<BodyRefusal, () => Error> = {
  json: () => new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(),
  depth: nestedTooDeep,
  key: () => new InvalidInputError(`The request body has an object key of ${LONG_TEXT_CHARS} characters or more.`),
};

/** The models the caller's tier's ladder may send a request to: the ones its long texts are counted for. */
function ladderModels(policy: LivePolicy, request: FastifyRequest): string[] {
  const steps = policy.config.tiers[request.caller!.tier]?.degrade?.steps ?? [];
  return steps.flatMap((step) => (step.model === undefined ? [] : [step.model]));
}

/**
 * Bodies of `LARGE_BODY_BYTES` or more are decoded, parsed, checked and have their long texts
 * counted in the body thread, off the event loop, which sees only the body with stand-ins
 * (`LongTexts`). One caller's large bodies go one at a time, each up to its decision: a caller with
 * many at once takes no more of the thread than one, and the others wait, read but not decoded.
 * Small bodies never wait. The turn is passed on when the handler starts, when the response is
 * sent (a refusal, an error) or when the client goes away.
 */
export function largeBodies(app: FastifyInstance, policy: LivePolicy): LargeBodies {
  const thread = new BodyThread();
  const turns = new Turns();
  const turnOf = new WeakMap<FastifyRequest, Turn>();
  const decided = (request: FastifyRequest) => turnOf.get(request)?.pass();
  app.addHook('onResponse', async (request) => decided(request));
  app.addHook('onRequestAbort', async (request) => decided(request));
  app.addHook('onClose', () => thread.close());
  return {
    parse: (request, bytes) => {
      if (bytes.length < LARGE_BODY_BYTES) return undefined;
      const turn = turns.take(request.caller!.user);
      turnOf.set(request, turn);
      return turn.ready.then(async () => {
        const parsed = await thread.parse(bytes, ladderModels(policy, request));
        if ('refused' in parsed) throw REFUSALS[parsed.refused]();
        request.longTexts = parsed.texts;
        return parsed.body;
      });
    },
    decided,
  };
}
