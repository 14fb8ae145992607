import type { FastifyBaseLogger } from 'fastify';
import type { GatewayMetrics } from '../metrics.js';
import { withinDeadline } from '../records/records.js';
import { DAY_MS, type LedgerFilter, type LedgerRow, type LedgerStore } from './ledger-types.js';

/** How often buffered rows are written: a row is queryable within about this long. */
const FLUSH_EVERY_MS = 1_000;
/** A batch this large is written at once, without waiting for the timer. */
const FLUSH_AT_ROWS = 500;
/** Rows kept while the store fails; past it the oldest are given up (and counted). */
const MAX_BUFFERED_ROWS = 50_000;
/** How often rows past the retention are deleted. */
const PRUNE_EVERY_MS = 3_600_000;

export interface SpendLedgerOptions {
  readonly store: LedgerStore;
  /** Days rows are kept. */
  readonly retentionDays: number;
  /** The longest one write may take before it counts as failed (and is tried again). */
  readonly timeoutMs: number;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
}

/**
 * The spend ledger's writer, off the request path: a finished request's row is buffered in memory
 * and written in batches (every second, or at 500 rows, and on close). A write that fails is logged
 * and counted, never felt by a request; its rows stay buffered for the next write, up to a bound.
 * Rows past the retention are deleted in the background.
 */
export class SpendLedger {
  private buffer: LedgerRow[] = [];
  private writing: Promise<void> | undefined;
  /** Rows of requests still in flight, or waiting for their settlement (a stream the client left): closing waits for them. */
  private readonly pending = new Set<Promise<void>>();
  private readonly flushTimer: NodeJS.Timeout;
  private readonly pruneTimer: NodeJS.Timeout;

  constructor(private readonly options: SpendLedgerOptions) {
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.flushTimer.unref();
    this.pruneTimer.unref();
    void this.prune();
  }

  /** How long rows are kept, in ms. */
  get retentionMs(): number {
    return this.options.retentionDays * DAY_MS;
  }

  /** Adds a request's row once it is complete (after its response and its settlement); one that cannot be put together is logged. */
  addWhenReady(row: Promise<LedgerRow>): void {
    const added: Promise<void> = row
      .then(
        (complete) => this.add(complete),
        (error: unknown) => this.options.log.error({ err: error }, 'building a spend ledger row failed'),
      )
      .finally(() => this.pending.delete(added));
    this.pending.add(added);
  }

  add(row: LedgerRow): void {
    this.buffer.push(row);
    this.bound();
    if (this.buffer.length >= FLUSH_AT_ROWS) void this.flush();
  }

  /** Writes what is buffered (after any write in progress). Never throws: a failure is logged, counted, and retried by the next flush. */
  flush(): Promise<void> {
    const previous = this.writing ?? Promise.resolve();
    const next = previous.then(() => this.write());
    this.writing = next.finally(() => {
      if (this.writing === next) this.writing = undefined;
    });
    return next;
  }

  /** The rows matching `filter`, newest first, this instance's buffered rows written first. */
  async *rows(filter: LedgerFilter): AsyncIterable<readonly LedgerRow[]> {
    await this.flush();
    yield* this.options.store.rows(filter);
  }

  /**
   * Stops the timers and writes what is left, the rows of the requests the server's closing cut
   * off included (their settlements come as their streams are cancelled), waiting for them at
   * most the store's deadline. Call it after the server has closed and before the store does.
   */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.pruneTimer);
    await withinDeadline(Promise.allSettled(this.pending), this.options.timeoutMs).catch(() => {
      this.options.log.error({ rows: this.pending.size }, 'spend ledger rows still unsettled at close are not written');
    });
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const { store, timeoutMs, metrics, log } = this.options;
    try {
      await withinDeadline(store.append(batch), timeoutMs);
    } catch (error) {
      metrics.ledgerWriteFailures.inc();
      log.error({ err: error, rows: batch.length }, 'writing the spend ledger failed; its rows are kept for the next write');
      // Back in front of what arrived meanwhile, within the bound (the store keeps one copy of a row written twice).
      this.buffer = [...batch, ...this.buffer];
      this.bound();
    }
  }

  /** Gives up the oldest rows past the bound, counting them. */
  private bound(): void {
    const dropped = this.buffer.length - MAX_BUFFERED_ROWS;
    if (dropped <= 0) return;
    this.buffer.splice(0, dropped);
    this.options.metrics.ledgerRowsDropped.inc({}, dropped);
  }

  private async prune(): Promise<void> {
    try {
      await withinDeadline(this.options.store.prune(Date.now() - this.retentionMs), this.options.timeoutMs);
    } catch (error) {
      this.options.log.error({ err: error }, 'deleting spend ledger rows past their retention failed; the next pass tries again');
    }
  }
}
