import { ConfigurationError, createHttpLimit, type Admission } from '@tollgate/core';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { FastifyTollgateOptions, TollgateHook, TollgateRefusal } from './options.js';

export const ADAPTER = 'adapter-fastify';

const HOOKS: readonly TollgateHook[] = ['onRequest', 'preHandler'];

/** A route's limiting: the hook to add and the lifecycle phase to add it to. */
export interface RouteLimit {
  readonly phase: TollgateHook;
  /** A callback-style hook: it continues (`done`) at once when the limiter decides synchronously. */
  readonly hook: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
}

const sendRefusal: NonNullable<FastifyTollgateOptions['onLimited']> = (_request, reply, { response }) =>
  reply.code(response.status).headers(response.headers).send(response.body);

/** Validates one complete option set and builds the hook that enforces it. */
export function routeLimit(options: FastifyTollgateOptions): RouteLimit {
  const admit = createHttpLimit(options, ADAPTER);
  const { hook: phase = 'onRequest', onLimited = sendRefusal } = options;
  if (!HOOKS.includes(phase)) throw new ConfigurationError(`[tollgate] [${ADAPTER}] hook must be 'onRequest' or 'preHandler', got ${JSON.stringify(phase)}`);
  if (typeof onLimited !== 'function') throw new ConfigurationError(`[tollgate] [${ADAPTER}] onLimited must be a function`);

  const hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    // Listen before deciding: a client that leaves while the limiter decides closes the response
    // before there is a lease, and 'close' does not fire twice. 'close' (not Fastify's onResponse,
    // which waits for 'finish') also fires when the client leaves mid-stream.
    let closed = false;
    let release: (() => Promise<void>) | undefined;
    reply.raw.once('close', () => {
      closed = true;
      void release?.();
    });

    const refuse = async (refusal: TollgateRefusal): Promise<void> => {
      const payload = await onLimited(request, reply, refusal);
      // As Fastify treats an async handler's result: send what it returned, unless it sent already.
      // Nothing returned and nothing sent: the default refusal, never an empty 200.
      if (payload === undefined && !reply.sent && !reply.raw.headersSent) await sendRefusal(request, reply, refusal);
      else if (payload !== reply && payload !== undefined) reply.send(payload);
      // `done` is never called: the reply is sent, so the route's handler never runs.
    };
    const handle = (admission: Admission): void => {
      if (admission.kind === 'skipped') return done();
      if (admission.kind === 'refused') {
        refuse({ decision: admission.decision, response: admission.response }).catch(done);
        return;
      }
      const { context, headers } = admission;
      if (closed || reply.raw.destroyed) {
        // Nobody is left to answer: free the slot now, and spend nothing on the handler.
        void context.release();
        reply.hijack();
        return done();
      }
      release = context.release;
      // On the raw response, so they also go out when the handler writes to `reply.raw` itself
      // (server-sent events); Fastify merges them into the headers it sends.
      for (const name in headers) reply.raw.setHeader(name, headers[name]!);
      request.tollgate = context;
      done();
    };

    // `() => request.ip`: Fastify's trusted-proxy logic runs only if a limit keys on the IP.
    const admission = admit(request, () => request.ip);
    // Decided synchronously (an in-process store): the lifecycle goes on without a microtask hop,
    // and Fastify catches what `handle` throws; later, errors go to `done` ourselves.
    if (!(admission instanceof Promise)) return handle(admission);
    admission.then((settled) => {
      try {
        handle(settled);
      } catch (error) {
        done(error as Error);
      }
    }, done);
  };
  return { phase, hook };
}
