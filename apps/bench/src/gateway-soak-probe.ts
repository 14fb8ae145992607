/**
 * Loaded into the soaked gateway before it starts (`node --expose-gc --import
 * gateway-soak-probe.ts?samples=<file>`), so that the gateway itself carries no bench code: on
 * SIGUSR2 it collects garbage (a full, forced GC) and appends one line of JSON to `<file>` with
 * the process's memory as it then stands (a `ProbeSample`). The bench sends the signal and reads
 * the line.
 */
import { appendFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

/** One sample, in bytes. */
export interface ProbeSample {
  /** When it was taken, epoch ms. */
  readonly at: number;
  readonly rss: number;
  /** The V8 heap in use after the forced GC. */
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory of C++ objects bound to JavaScript ones (Buffers included). */
  readonly external: number;
  readonly arrayBuffers: number;
  /** What V8 itself has malloc'ed outside the heap. */
  readonly malloced: number;
}

const samples = new URL(import.meta.url).searchParams.get('samples');
const gc = (globalThis as { gc?: () => void }).gc;
if (samples === null || gc === undefined) throw new Error('gateway-soak-probe.ts needs --expose-gc and ?samples=<file> on its URL');

process.on('SIGUSR2', () => {
  gc();
  const memory = process.memoryUsage();
  const sample: ProbeSample = {
    at: Date.now(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    malloced: getHeapStatistics().malloced_memory,
  };
  appendFileSync(samples, `${JSON.stringify(sample)}\n`);
});
