/** One minute of traffic. */
export interface MinuteTotals {
  /** Start of the minute, epoch ms. */
  minute: number;
  /** Admitted chat requests. */
  requests: number;
  /** Refused chat requests. */
  denied: number;
  /** Tokens recorded (input and output). */
  tokens: number;
}

/** A refused request, as the dashboard lists it. */
export interface Denial {
  at: number;
  user: string;
  key: string;
  ip: string | undefined;
  status: number;
  /** The refusing limit (null when the store failed). */
  limit: string | null;
  /** `limited`, `timeout` or `store-error`. */
  reason: string;
  message: string;
}

const MINUTE = 60_000;
const HOUR_MINUTES = 60;
const RECENT_DENIALS = 50;

/** Per-minute totals of the last hour. */
class Minutes {
  private readonly buckets = new Map<number, MinuteTotals>();

  add(now: number, field: 'requests' | 'denied' | 'tokens', amount: number): void {
    const minute = Math.floor(now / MINUTE) * MINUTE;
    let bucket = this.buckets.get(minute);
    if (!bucket) {
      this.buckets.set(minute, (bucket = { minute, requests: 0, denied: 0, tokens: 0 }));
      for (const old of this.buckets.keys()) if (old <= minute - HOUR_MINUTES * MINUTE) this.buckets.delete(old);
    }
    bucket[field] += amount;
  }

  /** The last hour, oldest first, one entry per minute (empty minutes included). */
  hour(now: number): MinuteTotals[] {
    const current = Math.floor(now / MINUTE) * MINUTE;
    return Array.from({ length: HOUR_MINUTES }, (_, i) => {
      const minute = current - (HOUR_MINUTES - 1 - i) * MINUTE;
      return this.buckets.get(minute) ?? { minute, requests: 0, denied: 0, tokens: 0 };
    });
  }
}

/**
 * What this gateway process has seen in the last hour, for the dashboard's chart and its list of
 * refusals. It lives in memory: after a restart, and per instance when several share a store (the
 * limits and budgets themselves are read from the store).
 */
export class Activity {
  private readonly minutes = new Minutes();
  private readonly denials: Denial[] = [];

  constructor(private readonly clock: () => number = Date.now) {}

  admitted(): void {
    this.minutes.add(this.clock(), 'requests', 1);
  }

  recorded(tokens: number): void {
    this.minutes.add(this.clock(), 'tokens', tokens);
  }

  denied(denial: Omit<Denial, 'at'>): void {
    const at = this.clock();
    this.minutes.add(at, 'denied', 1);
    this.denials.unshift({ at, ...denial });
    this.denials.length = Math.min(this.denials.length, RECENT_DENIALS);
  }

  /** The last hour of traffic. */
  hour(): MinuteTotals[] {
    return this.minutes.hour(this.clock());
  }

  /** The most recent refusals, newest first. */
  recentDenials(): readonly Denial[] {
    return this.denials;
  }
}
