/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written here rather than with
 * a client library: the gateway needs counters and histograms with a few labels, nothing more.
 */
import { UNITS_PER_USD, usdToUnits } from '@tollgate/core';

type Labels = Readonly<Record<string, string>>;

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([name, value]) => `${name}="${escape(value)}"`).join(',')}}`;
};
const number = (value: number) => (value === Infinity ? '+Inf' : String(value));

interface Metric {
  lines(): string[];
}

/**
 * A series' key in its metric: the label names and values joined with separators no label text
 * contains, built without the escaping and arrays of the exposition text, since every request
 * counts into several series.
 */
function seriesKey(labels: Labels): string {
  let key = '';
  for (const name in labels) key += `${name}\u0001${labels[name]}\u0000`;
  return key;
}

class Series<T> {
  private readonly byLabels = new Map<string, { labels: Labels; value: T }>();
  constructor(private readonly initial: () => T) {}

  get(labels: Labels): T {
    const key = seriesKey(labels);
    let entry = this.byLabels.get(key);
    if (!entry) this.byLabels.set(key, (entry = { labels, value: this.initial() }));
    return entry.value;
  }

  entries() {
    return [...this.byLabels.values()];
  }
}

export class Counter implements Metric {
  private readonly series = new Series(() => ({ value: 0 }));
  constructor(
    private readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    this.series.get(labels).value += by;
  }

  lines(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...this.series.entries().map(({ labels, value }) => `${this.name}${labelText(labels)} ${number(value.value)}`)];
  }
}

/** A value that goes up and down: the last one set per series. */
export class Gauge implements Metric {
  private readonly series = new Series(() => ({ value: 0 }));
  constructor(
    private readonly name: string,
    private readonly help: string,
  ) {}

  set(labels: Labels, value: number): void {
    this.series.get(labels).value = value;
  }

  lines(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, ...this.series.entries().map(({ labels, value }) => `${this.name}${labelText(labels)} ${number(value.value)}`)];
  }
}

const NANO_PER_USD = BigInt(UNITS_PER_USD);

/** Integer nano-dollars as the exact decimal of USD they are (`1281648000n` → `1.281648`). */
export function usdText(units: bigint): string {
  const fraction = (units % NANO_PER_USD).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? String(units / NANO_PER_USD) : `${units / NANO_PER_USD}.${fraction}`;
}

/**
 * A counter of US dollars, summed in integer nano-dollars as the limiter counts money and printed
 * as the exact decimal: summed as floats, a hundred charges of $0.01281648 would print as
 * 1.281647999999999. BigInt, so a long-lived gateway's total never leaves the exact range.
 */
export class UsdCounter implements Metric {
  private readonly series = new Series(() => ({ units: 0n }));
  constructor(
    private readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels, usd: number): void {
    this.series.get(labels).units += BigInt(usdToUnits(usd));
  }

  lines(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...this.series.entries().map(({ labels, value }) => `${this.name}${labelText(labels)} ${usdText(value.units)}`)];
  }
}

export class Histogram implements Metric {
  private readonly series;
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.series = new Series(() => ({ counts: new Array<number>(buckets.length).fill(0), sum: 0, count: 0 }));
  }

  observe(value: number, labels: Labels = {}): void {
    const entry = this.series.get(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) entry.counts[i]!++;
    entry.sum += value;
    entry.count++;
  }

  lines(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, value } of this.series.entries()) {
      this.buckets.forEach((le, i) => out.push(`${this.name}_bucket${labelText({ ...labels, le: number(le) })} ${value.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${value.count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${value.sum}`, `${this.name}_count${labelText(labels)} ${value.count}`);
    }
    return out;
  }
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const UPSTREAM_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Every metric the gateway exports. */
export class GatewayMetrics {
  readonly decisions = new Counter('tollgate_decisions_total', 'Limiter decisions on chat requests, by outcome (allowed, limited, timeout, store-error) and refusing limit');
  readonly degraded = new Counter('tollgate_degraded_requests_total', 'Admitted chat requests whose model or max_tokens the degradation ladder changed, by step');
  readonly storeLatency = new Histogram('tollgate_store_latency_seconds', 'Time of each store call (decisions, lease records and releases), by result', SECONDS);
  readonly upstream = new Counter('tollgate_upstream_responses_total', 'Upstream responses by status code (0: unreachable)');
  readonly upstreamLatency = new Histogram('tollgate_upstream_latency_seconds', 'Time until the upstream answered (headers), by status code', UPSTREAM_SECONDS);
  readonly tokens = new Counter('tollgate_tokens_total', 'Tokens the upstream reported (or the gateway counted, when the usage is unknown), by kind (input, output)');
  readonly spend = new UsdCounter('tollgate_spend_usd_total', 'USD charged to budgets: each call\'s reported cost, or its reservation when its usage is unknown');
  readonly overruns = new Counter('tollgate_overruns_total', 'Calls whose reported usage exceeded what was reserved for them (an upstream ignoring the output cap or over-reporting)');
  readonly overrunUsd = new UsdCounter('tollgate_overrun_usd_total', 'USD charged beyond the reservations, by those calls');
  readonly budgetUsed = new Gauge(
    'tollgate_budget_used_ratio',
    'Each cost budget\'s used fraction as the last decision on it saw it (an admitted request\'s reservation included), by limit, scope and the id it counts (user, key, team, organisation; empty for global)',
  );
  readonly ledgerWriteFailures = new Counter('tollgate_ledger_write_failures_total', 'Spend ledger batches the store did not take (kept for the next write, up to a bound)');
  readonly ledgerRowsDropped = new Counter('tollgate_ledger_rows_dropped_total', 'Spend ledger rows given up: the store failed for longer than the buffer holds');

  constructor() {
    // Exported as 0 from the start: an alert on their increase needs the series before the first event.
    this.spend.inc({}, 0);
    this.overruns.inc({}, 0);
    this.overrunUsd.inc({}, 0);
    this.ledgerWriteFailures.inc({}, 0);
    this.ledgerRowsDropped.inc({}, 0);
  }

  /** The exposition text, for `GET /metrics`. */
  text(): string {
    const all = [this.decisions, this.degraded, this.storeLatency, this.upstream, this.upstreamLatency, this.tokens, this.spend, this.overruns, this.overrunUsd, this.budgetUsed, this.ledgerWriteFailures, this.ledgerRowsDropped];
    return all.flatMap((metric) => metric.lines()).join('\n') + '\n';
  }
}
