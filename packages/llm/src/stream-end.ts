import { errorPrefix, type Usage } from '@tollgate/core';
import type { StreamMeter, StreamMeterOptions } from './stream-meter.js';

/** How a metered body ended, for `onUsage`. */
export interface StreamEnd {
  /**
   * Whether the provider's final usage arrived (`false`: cut off, or the usage never came or was
   * not usable; record the usage with `{ partial: true }`).
   */
  complete: boolean;
  /** `'done'` (read to the end), `'cancelled'` (the reader went away), `'error'` (the source failed). */
  how: 'done' | 'cancelled' | 'error';
  /** The names of the tools the stream called (as far as it went), one per call. */
  toolCalls: readonly string[];
}

/**
 * Settles a metered body once, however it ends: `onUsage` with the meter's usage. A usage that
 * cannot be counted (a counter of your own that throws) is still settled, as partial: the caller
 * must get its one call to record and release. A failing callback must not fail the body the
 * client is reading: it is reported instead.
 */
export function settlement(meter: StreamMeter, options: StreamMeterOptions | undefined, onUsage: (usage: Usage, end: StreamEnd) => unknown): (how: StreamEnd['how']) => Promise<void> {
  let settled: Promise<void> | undefined;
  const warn = (error: unknown) => console.warn(`${errorPrefix('llm')} settling a metered stream failed: ${(error as Error)?.message ?? String(error)}`);
  const measured = (): Promise<[Usage, boolean]> =>
    meter.usage().then(
      (usage) => [usage, meter.complete],
      (error: unknown) => {
        warn(error);
        return [{ ...(options?.model !== undefined && { model: options.model }), inputTokens: options?.inputTokens ?? 0 }, false];
      },
    );
  return (how) =>
    (settled ??= measured()
      .then(([usage, complete]) => onUsage(usage, { complete, how, toolCalls: meter.toolCalls() }))
      .then(() => undefined, warn));
}
