import type { Usage } from '@tollgate/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { LedgerRow } from './ledger-types.js';
import type { SpendLedger } from './spend-ledger.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's spend ledger row in the making; set on the LLM routes once the caller is known. */
    spend: SpendEntry | null;
  }
}

/** What settling a forwarded call charged (`settlement.ts`), for its row. */
export interface SettledCall {
  /** The model sent upstream. */
  readonly model: string;
  readonly usage: Usage;
  readonly known: boolean;
  readonly toolCalls: number;
  /** What the counters were charged, in nano-dollars. */
  readonly costNanoUsd: number;
}

/** nginx's status for a request whose client closed the connection before the response ended. */
const CLIENT_CLOSED = 499;

/**
 * One request's row, put together as the request goes: its caller at the start, why it was refused
 * if it was, what its call was charged once that is settled. The row is complete when the response
 * has closed, the handler has returned, and the settlement has come: for a stream, that is when the
 * stream ends, which may be after the client left.
 */
export class SpendEntry {
  private readonly time = Date.now();
  private readonly started = performance.now();
  private handler: Promise<unknown> | undefined;
  /** Whether a settlement was started, or will be (a metered stream was sent): the row waits for it. */
  private settles = false;
  private resolveSettled!: (settled: Promise<SettledCall>) => void;
  private readonly settled = new Promise<SettledCall>((resolve) => (this.resolveSettled = resolve));
  refusal: string | null = null;

  constructor(private readonly request: FastifyRequest) {}

  /** The route's handler, which may settle the call before it returns. */
  handling<T>(handler: Promise<T>): Promise<T> {
    this.handler = handler;
    return handler;
  }

  /** A metered stream was sent: its settlement comes when it ends. */
  streaming(): void {
    this.settles = true;
  }

  settling(settled: Promise<SettledCall>): void {
    this.settles = true;
    this.resolveSettled(settled);
  }

  /** The row, once the response has closed (status and latency are read at once, the charge when it is known). */
  async row(reply: FastifyReply): Promise<LedgerRow> {
    const status = reply.raw.writableFinished ? reply.statusCode : CLIENT_CLOSED;
    const latencyMs = Math.round(performance.now() - this.started);
    // A handler that failed answered with an error: its row says so by its status.
    await this.handler?.catch(() => undefined);
    const call = this.settles ? await this.settled : undefined;
    const { request } = this;
    const caller = request.caller!;
    const asked = (request.body as Record<string, unknown> | undefined)?.model;
    return {
      time: this.time,
      requestId: request.id,
      user: caller.user,
      team: caller.team ?? null,
      key: caller.keyId,
      route: request.routeOptions.url ?? request.url,
      requestedModel: typeof asked === 'string' ? asked : null,
      model: call?.model ?? null,
      degradeStep: request.tollgate?.degrade?.step ?? null,
      inputTokens: call?.usage.inputTokens ?? 0,
      outputTokens: call?.usage.outputTokens ?? 0,
      cachedInputTokens: call?.usage.cachedInputTokens ?? 0,
      reasoningTokens: call?.usage.reasoningTokens ?? 0,
      toolCalls: call?.toolCalls ?? 0,
      costNanoUsd: call?.costNanoUsd ?? 0,
      usageKnown: call?.known ?? null,
      status,
      latencyMs,
      refusal: this.refusal,
    };
  }
}

/** The `error` of a body the gateway built in OpenAI's shape (objects only reach `preSerialization`: an upstream's answer passes as bytes). */
function errorOf(payload: unknown): { limit?: unknown; code?: unknown; type?: unknown } | undefined {
  const error = (payload as { error?: unknown } | null)?.error;
  return typeof error === 'object' && error !== null ? error : undefined;
}

/**
 * Puts a ledger row together for each request to the routes given `open` as their `onRequest`
 * hook, and hands it to `ledger` when it is complete. Registered in the APIs' context after the
 * authentication: a request refused for its key has no caller to charge, and no row. The hooks
 * take Fastify's callback form: they run on every request, and an async hook costs a promise each.
 */
export function spendRows(app: FastifyInstance, ledger: SpendLedger) {
  app.addHook('preSerialization', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    // The gateway's own error bodies: a refusal names its limit, any other error its code.
    const error = request.spend && reply.statusCode >= 400 ? errorOf(payload) : undefined;
    const reason = error?.limit ?? error?.code ?? error?.type;
    if (error && typeof reason === 'string') request.spend!.refusal = reason;
    done(null, payload);
  });
  return function open(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const entry = (request.spend = new SpendEntry(request));
    // Handed over now, not at the close: a gateway that stops waits for the rows of the requests it cuts off.
    ledger.addWhenReady(new Promise((resolve) => reply.raw.once('close', () => resolve(entry.row(reply)))));
    done();
  };
}
