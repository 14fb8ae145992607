import { createHmac } from 'node:crypto';
import type { LimitState } from '@tollgate/core';
import type { FastifyBaseLogger } from 'fastify';
import type { Records } from '../records/records.js';

/** Where budget alerts go, how they are signed, and at which fractions of a budget. */
export interface AlertsSpec {
  readonly url: string;
  /** Signs each body (HMAC-SHA256, in `x-tollgate-signature`); `undefined`: unsigned. */
  readonly secret: string | undefined;
  /** Ascending, in (0, 1]. */
  readonly fractions: readonly number[];
}

/** A cost budget a decision saw: its state, the id it counts (the caller's user, key, team or organisation; empty for `global`), and its used fraction. */
export interface ObservedBudget {
  readonly limit: LimitState;
  readonly id: string;
  readonly ratio: number;
}

/** What one alert says, as its JSON body. */
export interface BudgetAlert {
  readonly type: 'budget.threshold';
  readonly limit: string;
  readonly scope: string;
  /** The user, key, team or organisation it counts (empty for `global`). */
  readonly id: string;
  /** The fraction reached. */
  readonly fraction: number;
  readonly used: number;
  readonly budget: number;
  /** When the budget's period ends (a calendar budget), or its rolling window's length. */
  readonly period: string;
  readonly at: string;
}

const KIND = 'budget-alerts';
/** Waits between a delivery's attempts: five attempts over about 15 s, then it is given up (and logged). */
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000];
/** Alerts this instance remembers having queued; past it, the records' claims still stop repeats. */
const MAX_REMEMBERED = 10_000;

/**
 * Webhooks when a cost budget reaches a configured fraction, sent off the request path: each
 * decision's budgets (`observeBudgets`) are checked in memory, and a fraction newly reached is claimed in the
 * gateway's records (so one instance sends it, once per budget period and id) and delivered,
 * signed, with retries.
 */
export class BudgetAlerts {
  private readonly queued = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly spec: AlertsSpec,
    private readonly records: Records,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Queues an alert for each fraction a cost budget a decision saw has reached, once per period. */
  observe(budgets: readonly ObservedBudget[]): void {
    const now = Date.now();
    for (const { limit, id, ratio } of budgets) {
      for (const fraction of this.spec.fractions) {
        if (ratio < fraction) break;
        // A calendar budget's period ends at its reset; a rolling one's is its window, counted from the epoch.
        const period =
          limit.windowMs !== undefined ? `${limit.windowMs / 1000}s #${Math.floor(now / limit.windowMs)}` : Number.isFinite(limit.resetAt) ? new Date(limit.resetAt).toISOString() : 'never';
        const key = `${limit.name}|${limit.scope}|${id}|${fraction}|${period}`;
        if (this.queued.has(key)) continue;
        if (this.queued.size >= MAX_REMEMBERED) this.queued.clear();
        this.queued.add(key);
        const alert: BudgetAlert = { type: 'budget.threshold', limit: limit.name, scope: limit.scope, id, fraction, used: limit.used, budget: limit.limit, period, at: new Date(now).toISOString() };
        void this.send(key, alert);
      }
    }
  }

  /** Stops the retries still waiting. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async send(key: string, alert: BudgetAlert): Promise<void> {
    try {
      if (!(await this.records.claim(KIND, key, alert.at))) return;
    } catch (error) {
      this.log.error({ err: error, alert }, 'claiming a budget alert failed: it is not sent');
      return;
    }
    this.attempt(alert, JSON.stringify(alert), 0);
  }

  private attempt(alert: BudgetAlert, body: string, attempt: number): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.spec.secret !== undefined) headers['x-tollgate-signature'] = `sha256=${createHmac('sha256', this.spec.secret).update(body).digest('hex')}`;
    fetch(this.spec.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
      .then((response) => {
        if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
        this.log.info({ alert }, 'budget alert sent');
      })
      .catch((error: unknown) => {
        if (this.closed) return;
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined) return this.log.error({ err: error, alert }, 'a budget alert could not be delivered: given up');
        this.log.warn({ err: error, alert, retryInMs: delay }, 'a budget alert could not be delivered: retrying');
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.attempt(alert, body, attempt + 1);
        }, delay);
        timer.unref();
        this.timers.add(timer);
      });
  }
}
