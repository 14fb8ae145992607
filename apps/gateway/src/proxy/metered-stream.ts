import { Transform, type Readable } from 'node:stream';
import type { Usage } from '@tollgate/core';
import { meterEventChunks, type EventChunksOptions, type StreamEnd, type StreamFormat, type StreamMeterOptions } from '@tollgate/llm';

/**
 * An upstream's event stream on its way to the client, metered as it passes, and settled through
 * `onUsage` once: before the client's response ends (the lease is still held: its release comes
 * with the end of the response), when the upstream fails, or as soon as `gone` aborts (the client
 * left, or the upstream's timeout passed). Each chunk goes through one `Transform`, synchronously:
 * an async generator or a web stream on the way would cost promises per chunk. Destroying the
 * returned stream (a client that left) destroys the upstream's too, so the provider stops
 * generating.
 */
export function meteredStream(
  upstream: Readable,
  format: StreamFormat,
  options: StreamMeterOptions,
  onUsage: (usage: Usage, end: StreamEnd) => unknown,
  passing: Required<EventChunksOptions>,
): Readable {
  const chunks = meterEventChunks(format, options, onUsage, passing);
  const metered = new Transform({
    transform: (chunk: Buffer, _encoding, done) => done(null, chunks.pass(chunk)),
    flush: (done) => {
      const rest = chunks.end();
      if (rest) metered.push(rest);
      void chunks.settle('done').then(() => done());
    },
  });
  // Piped and watched by hand: `pipeline` makes an AbortController per call and aborts it at the
  // end, which builds an AbortError with its stack trace for every stream.
  upstream.on('error', (error) => {
    void chunks.settle('error');
    metered.destroy(error);
  });
  metered.once('close', () => {
    if (!upstream.readableEnded) upstream.destroy();
  });
  upstream.pipe(metered);
  return metered;
}
