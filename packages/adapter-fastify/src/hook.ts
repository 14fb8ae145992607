import { ConfigurationError, createHttpLimit, errorPrefix, ReleaseOnClose, type Admission, type FrameworkHooks } from '@tollgate/core';
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

/** Fastify resolves `request.ip` from `X-Forwarded-For` only from proxies its `trustProxy` option trusts. */
const FASTIFY: FrameworkHooks<FastifyRequest> = {
  forwardedUntrusted: (request) => request.headers['x-forwarded-for'] !== undefined && request.ip === request.socket.remoteAddress,
  trustProxyHint: "Fastify({ trustProxy: '10.0.0.1' }) with your proxy's address",
};

/** Validates one complete option set and builds the hook that enforces it. */
export function routeLimit(options: FastifyTollgateOptions): RouteLimit {
  const admit = createHttpLimit(options, ADAPTER, FASTIFY);
  const { hook: phase = 'onRequest', onLimited = sendRefusal } = options;
  if (!HOOKS.includes(phase)) throw new ConfigurationError(`${errorPrefix(ADAPTER)} hook must be 'onRequest' or 'preHandler', got ${JSON.stringify(phase)}`);
  if (typeof onLimited !== 'function') throw new ConfigurationError(`${errorPrefix(ADAPTER)} onLimited must be a function`);

  /** One request's state, and its lease until the response closes: one object per request. */
  class Pending extends ReleaseOnClose {
    constructor(
      private readonly request: FastifyRequest,
      private readonly reply: FastifyReply,
      private readonly done: HookHandlerDoneFunction,
    ) {
      super();
    }

    protected override status(): number {
      return this.reply.raw.statusCode;
    }

    handle(admission: Admission): void {
      const { request, reply, done } = this;
      if (admission.kind === 'skipped') return done();
      if (admission.kind === 'refused') {
        this.refuse({ decision: admission.decision, response: admission.response }).catch(done);
        return;
      }
      const { context, headers } = admission;
      if (!this.hold(context, reply.raw.destroyed)) {
        // Nobody left to answer: the slot is freed now, and nothing is spent on the handler.
        reply.hijack();
        return done();
      }
      // On the reply, as every Fastify plugin sets its headers: Fastify sends them with its own in
      // one `writeHead`. (Set on `reply.raw`, they would cost every request more: Node then merges
      // two sets of headers; apps/bench/README.md.) A handler that hijacks the reply and writes to `reply.raw`
      // itself passes `reply.getHeaders()` to its `writeHead`, as for any plugin's headers.
      for (const name in headers) reply.header(name, headers[name]!);
      request.tollgate = context;
      done();
    }

    private async refuse(refusal: TollgateRefusal): Promise<void> {
      const { request, reply } = this;
      const payload = await onLimited(request, reply, refusal);
      // As Fastify treats an async handler's result: send what it returned, unless it sent already.
      // Nothing returned and nothing sent: the default refusal, never an empty 200.
      if (payload === undefined && !reply.sent && !reply.raw.headersSent) await sendRefusal(request, reply, refusal);
      else if (payload !== reply && payload !== undefined) reply.send(payload);
      // `done` is never called: the reply is sent, so the route's handler never runs.
    }

    /** The asynchronous path: errors thrown while handling the admission go to `done` ourselves. */
    settle(admission: Promise<Admission>): void {
      admission.then((settled) => {
        try {
          this.handle(settled);
        } catch (error) {
          this.done(error as Error);
        }
      }, this.done);
    }
  }

  const hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    // Listen before deciding: a client that leaves while the limiter decides closes the response
    // before there is a lease. 'close' (not Fastify's onResponse, which waits for 'finish') also
    // fires when the client leaves mid-stream.
    const pending = new Pending(request, reply, done);
    reply.raw.on('close', pending.onClose);

    // `() => request.ip`: Fastify's trusted-proxy logic runs only if a limit keys on the IP.
    const admission = admit(request, () => request.ip);
    // Decided synchronously (an in-process store): the lifecycle goes on without a microtask hop,
    // and Fastify catches what `handle` throws.
    if (admission instanceof Promise) pending.settle(admission);
    else pending.handle(admission);
  };
  return { phase, hook };
}
