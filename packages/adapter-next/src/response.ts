import type { TollgateRefusal } from './options.js';

/** The default answer to a refused request: core's status, headers and OpenAI-style JSON body. */
export function refusalResponse(_request: Request, { response }: TollgateRefusal): Response {
  return Response.json(response.body, { status: response.status, headers: response.headers });
}

/**
 * A stream that passes `body`'s chunks through unchanged and calls `settle` once the body has
 * ended, errored or been cancelled by its reader (Next.js cancels it when the client disconnects).
 * The end is reported only after `settle` resolves, so a serverless runtime that stops the function
 * once the response is done still lets it finish.
 */
function settleAtEnd<Chunk>(body: ReadableStream<Chunk>, settle: () => Promise<void>): ReadableStream<Chunk> {
  const reader = body.getReader();
  // Cancelling the source ends a read in progress: the stream is closed already, nothing to pass on.
  let cancelled = false;
  return new ReadableStream<Chunk>(
    {
      async pull(controller) {
        let next: ReadableStreamReadResult<Chunk>;
        try {
          next = await reader.read();
        } catch (error) {
          await settle();
          if (!cancelled) controller.error(error);
          return;
        }
        if (!next.done) {
          controller.enqueue(next.value);
          return;
        }
        await settle();
        if (!cancelled) controller.close();
      },
      async cancel(reason) {
        cancelled = true;
        await Promise.all([settle(), reader.cancel(reason)]);
      },
    },
    // Read from the source only when the consumer asks, so backpressure reaches the handler's stream.
    { highWaterMark: 0 },
  );
}

/**
 * The handler's response with the rate-limit headers added, releasing the lease once it has been
 * sent. A `Response`'s headers may be immutable (one from `fetch`, `Response.redirect`), so a new
 * one is built with the same status, status text, headers and body.
 */
export function releaseWhenSent(response: Response, headers: Record<string, string>, release: () => Promise<void>, signal: AbortSignal): Response | Promise<Response> {
  const merged = new Headers(response.headers);
  // The limiter's view wins over headers the handler copied from an upstream provider.
  for (const [name, value] of Object.entries(headers)) merged.set(name, value);
  const init: ResponseInit = { status: response.status, statusText: response.statusText, headers: merged };
  if (response.body === null) return release().then(() => new Response(null, init));
  // A client that left before the handler returned may never read the body: release then too.
  if (signal.aborted) void release();
  else signal.addEventListener('abort', () => void release(), { once: true });
  return new Response(settleAtEnd(response.body, release), init);
}
