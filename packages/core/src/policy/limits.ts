import { CalendarPeriods, type CalendarReset } from './calendar.js';
import { parseDuration, type Duration } from './duration.js';
import { describeValue } from '../util/describe-value.js';
import { ConfigurationError, errorPrefix } from '../errors.js';
import { GLOBAL_SCOPE, type KnownScopes } from './identity.js';
import { UNITS_PER_USD, usdToUnits } from '../pricing/money.js';
import type { Counter, CounterAlgorithm, IdentityKey } from '../store/contract.js';

/** What a limit counts. */
export type Resource = 'requests' | 'tokens' | 'cost' | 'concurrency' | 'toolCalls';

/** How a rolling-window limit counts. */
export type Algorithm = 'sliding-log' | 'sliding-window' | 'token-bucket';

/**
 * One limit. Give a rolling `window` or a calendar `reset` (not for `concurrency`, which counts
 * leases in flight).
 *
 * @example { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' }
 * @example { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } }
 */
export interface LimitConfig {
  /** Unique within a policy; lowercase letters, digits, `_`, `.` and `-`, starting with a letter. Shown in headers and errors. */
  name: string;
  /** The identity field the limit keys on (`user`, `apiKey`, `ip`, `session`, a custom one), or `global`. */
  scope: string;
  resource: Resource;
  /** The most the window may hold: a count, tokens, or USD for `cost`. Zero forbids. */
  limit: number;
  /** A rolling window: ms or `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
  window?: Duration;
  /** A calendar period that resets at local midnight in a time zone. */
  reset?: CalendarReset;
  /**
   * How a rolling window counts. `sliding-log` is exact (state grows with charges in the window, at
   * most `limit` entries for requests, and a quarter as many expired ones not yet cut off);
   * `sliding-window` keeps `precision + 1` numbers and never
   * over-admits (it may refuse for up to `window / precision` longer than exact); `token-bucket`
   * refills `limit` per `window` and allows bursts of `burst`.
   * @default 'sliding-log' for requests and toolCalls, 'sliding-window' for tokens and cost
   */
  algorithm?: Algorithm;
  /**
   * `sliding-window` only: the number of segments the window is cut into.
   * @default 10
   */
  precision?: number;
  /**
   * `token-bucket` only: the bucket's size, the largest burst.
   * @default limit
   */
  burst?: number;
  /** `toolCalls` only: count calls of this tool alone (e.g. `'web_search'`); without it, every tool call counts. */
  tool?: string;
}

/** A validated limit, ready to build store counters. */
export interface CompiledLimit {
  readonly name: string;
  readonly scope: string;
  readonly resource: Resource;
  readonly tool: string | undefined;
  /** The limit as configured (USD for cost). */
  readonly limit: number;
  /** Store units per configured unit (10^9 for cost, else 1). */
  readonly unitScale: number;
  /** The most the counter holds, in store units (a token bucket holds its burst). */
  readonly capacity: number;
  /** Rolling window length, for headers (`undefined` for calendar and concurrency limits). */
  readonly windowMs: number | undefined;
  /** Which counter of an identity this limit counts in (its name and algorithm fingerprint). */
  readonly field: string;
  /** How the counter counts at `now` (which picks calendar periods) for leases of `ttlMs` (which sizes slots). */
  algorithm(now: number, ttlMs: number): CounterAlgorithm;
}

/** The counter of one limit for one identity. */
export function counterOf(limit: CompiledLimit, identity: IdentityKey, now: number, ttlMs: number): Counter {
  return { identity, field: limit.field, algorithm: limit.algorithm(now, ttlMs) };
}

const NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
const SCOPE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const RESOURCES: readonly Resource[] = ['requests', 'tokens', 'cost', 'concurrency', 'toolCalls'];
const ALGORITHMS: readonly Algorithm[] = ['sliding-log', 'sliding-window', 'token-bucket'];
const KNOWN_KEYS = new Set(['name', 'scope', 'resource', 'limit', 'window', 'reset', 'algorithm', 'precision', 'burst', 'tool']);
const DEFAULT_PRECISION = 10;

/** Validates a list of limits (names unique) and compiles them; throws `ConfigurationError` naming the culprit. */
export function compileLimits(limits: unknown, scopes: KnownScopes, where = 'limits'): CompiledLimit[] {
  if (!Array.isArray(limits)) throw new ConfigurationError(`${where} must be an array of limits, got ${describeValue(limits)}`);
  const names = new Set<string>();
  return limits.map((config: unknown, index) => {
    const compiled = compileLimit(config, scopes, `${where}[${index}]`);
    if (names.has(compiled.name)) throw new ConfigurationError(`${where}: two limits are named "${compiled.name}"; names must be unique`);
    names.add(compiled.name);
    return compiled;
  });
}

function compileLimit(raw: unknown, scopes: KnownScopes, where: string): CompiledLimit {
  if (typeof raw !== 'object' || raw === null) throw new ConfigurationError(`${where} must be an object, got ${describeValue(raw)}`);
  const config = raw as Partial<LimitConfig>;
  const fail = (message: string): never => {
    throw new ConfigurationError(`${where}${typeof config.name === 'string' ? ` ("${config.name}")` : ''}: ${message}`);
  };
  for (const key of Object.keys(config)) if (!KNOWN_KEYS.has(key)) fail(`unknown option "${key}"`);

  const { name, scope, resource, limit } = config;
  if (typeof name !== 'string' || !NAME.test(name)) {
    fail(`name must be lowercase letters, digits, "_", "." or "-", starting with a letter (at most 64), got ${describeValue(name)}`);
  }
  if (typeof scope !== 'string' || !SCOPE.test(scope)) {
    fail(`scope must be an identity field such as 'user', 'apiKey', 'ip', 'session' or 'global', got ${describeValue(scope)}`);
  }
  if (!scopes.knows(scope!)) {
    fail(`scope "${scope}" is not a known scope (known: ${scopes.list()}); declare a custom one with createLimiter({ scopes: ['${scope}'] })`);
  }
  if (!RESOURCES.includes(resource as Resource)) fail(`resource must be one of ${RESOURCES.join(', ')}, got ${describeValue(resource)}`);
  if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0) {
    fail(`limit must be a finite number of at least 0, got ${describeValue(limit)}`);
  }
  const isCost = resource === 'cost';
  if (!isCost && !Number.isSafeInteger(limit)) fail(`limit must be a whole number for ${resource}, got ${limit}`);
  if (config.tool !== undefined && (resource !== 'toolCalls' || typeof config.tool !== 'string' || config.tool === '')) {
    fail(`tool (a tool name) applies to toolCalls limits only`);
  }

  const base = {
    name: name!,
    scope: scope!,
    resource: resource!,
    tool: config.tool,
    limit: limit!,
    unitScale: isCost ? UNITS_PER_USD : 1,
  };
  const units = isCost ? usdToUnits(limit!) : limit!;

  if (resource === 'concurrency') {
    if (config.window !== undefined || config.reset !== undefined || config.algorithm !== undefined) {
      fail('a concurrency limit counts leases in flight: it takes no window, reset or algorithm (leases free their slot on release or after lease.ttlMs)');
    }
    return slotsLimit(base, units);
  }
  if ((config.window === undefined) === (config.reset === undefined)) fail('give exactly one of window (rolling) or reset (calendar)');
  if (config.reset !== undefined) {
    if (config.algorithm !== undefined || config.precision !== undefined || config.burst !== undefined) {
      fail('a calendar limit (reset) takes no algorithm, precision or burst');
    }
    return calendarLimit(base, units, config.reset, fail);
  }

  const windowMs = parseDuration(config.window, `${where}.window`);
  const algorithm = config.algorithm ?? (resource === 'tokens' || resource === 'cost' ? 'sliding-window' : 'sliding-log');
  if (!ALGORITHMS.includes(algorithm)) fail(`algorithm must be one of ${ALGORITHMS.join(', ')}, got ${describeValue(algorithm)}`);
  if (config.precision !== undefined && algorithm !== 'sliding-window') fail('precision applies to the sliding-window algorithm only');
  if (config.burst !== undefined && algorithm !== 'token-bucket') fail('burst applies to the token-bucket algorithm only');

  if (algorithm === 'sliding-log') {
    return fixedLimit(base, windowMs, `log:${windowMs}`, { type: 'log', limit: units, windowMs });
  }
  if (algorithm === 'sliding-window') {
    const precision = config.precision ?? DEFAULT_PRECISION;
    if (!Number.isSafeInteger(precision) || precision < 1 || precision > 1000) fail(`precision must be a whole number from 1 to 1000, got ${describeValue(precision)}`);
    const segmentMs = Math.ceil(windowMs / precision);
    return fixedLimit(base, windowMs, `window:${windowMs}:${segmentMs}`, { type: 'window', limit: units, windowMs, segmentMs });
  }
  if (units === 0) fail('a token-bucket limit must be above 0 (it is the refill rate)');
  const burst = config.burst ?? limit!;
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst <= 0) fail(`burst must be a positive number, got ${describeValue(burst)}`);
  const burstUnits = isCost ? usdToUnits(burst) : burst;
  if (!Number.isSafeInteger(burstUnits) || burstUnits < 1) fail(`burst must be a whole number of at least 1 for ${resource}, got ${burst}`);
  // The bucket counts in ms x limit; keep every product exact in a double.
  if (burstUnits * windowMs > Number.MAX_SAFE_INTEGER / 4) {
    fail('burst x window is too large for a token bucket (exact arithmetic needs it below 2^51); use a shorter window or the sliding-window algorithm');
  }
  return fixedLimit(base, windowMs, `bucket:${windowMs}`, { type: 'bucket', limit: units, windowMs, burst: burstUnits });
}

type LimitBase = Omit<CompiledLimit, 'windowMs' | 'field' | 'algorithm' | 'capacity'>;

/**
 * The counter's field: the limit's name, what it counts and how. A limit that changes resource,
 * tool or algorithm (another tier, a new deploy) starts a fresh counter instead of misreading the
 * old one's state.
 */
function fieldOf(base: LimitBase, fingerprint: string): string {
  return `${base.name}/${base.resource}${base.tool === undefined ? '' : `:${base.tool}`}/${fingerprint}`;
}

function fixedLimit(base: LimitBase, windowMs: number, fingerprint: string, algorithm: Exclude<CounterAlgorithm, { type: 'calendar' | 'slots' }>): CompiledLimit {
  const field = fieldOf(base, fingerprint);
  const capacity = algorithm.type === 'bucket' ? algorithm.burst : algorithm.limit;
  return { ...base, windowMs, capacity, field, algorithm: () => algorithm };
}

function slotsLimit(base: LimitBase, units: number): CompiledLimit {
  const field = fieldOf(base, 'slots');
  // Leases almost always share the policy's TTL: reuse the algorithm of the last one asked for.
  let algorithm: Extract<CounterAlgorithm, { type: 'slots' }> = { type: 'slots', limit: units, ttlMs: 0 };
  return {
    ...base,
    windowMs: undefined,
    capacity: units,
    field,
    algorithm(_now, ttlMs) {
      if (algorithm.ttlMs !== ttlMs) algorithm = { type: 'slots', limit: units, ttlMs };
      return algorithm;
    },
  };
}

function calendarLimit(base: LimitBase, units: number, reset: unknown, fail: (message: string) => never): CompiledLimit {
  if (typeof reset !== 'object' || reset === null) fail(`reset must be { every: 'day', timeZone?: 'UTC' }, got ${describeValue(reset)}`);
  const { every, timeZone = 'UTC', ...rest } = reset as CalendarReset;
  if (Object.keys(rest).length > 0) fail(`reset has unknown option "${Object.keys(rest)[0]}"`);
  let periods: CalendarPeriods;
  try {
    periods = new CalendarPeriods(every, timeZone);
  } catch (error) {
    return fail((error as Error).message.replace(`${errorPrefix()} `, ''));
  }
  const field = fieldOf(base, `calendar:${every}:${timeZone}`);
  // The periods around `now` change once a period: so does the algorithm built from them.
  let algorithm: Extract<CounterAlgorithm, { type: 'calendar' }> | undefined;
  return {
    ...base,
    windowMs: undefined,
    capacity: units,
    field,
    algorithm(now) {
      const around = periods.around(now);
      if (algorithm?.periods !== around) algorithm = { type: 'calendar', limit: units, periods: around };
      return algorithm;
    },
  };
}

/**
 * Where the counters of one identity value live. The key `<prefix>:{<scope>:<value>}` is joined on
 * first use: only stores that address state by key (Redis) need it, and a decision builds one
 * identity key per scope.
 */
export class ScopedIdentityKey implements IdentityKey {
  private joined: string | undefined;

  /**
   * @param head `<prefix>:{<scope>:` (`<prefix>:{` for the global scope), built once per scope
   * @param namespace `<prefix>:<scope>`
   * @param id the encoded identity value (`global` for the global scope)
   */
  constructor(
    private readonly head: string,
    readonly namespace: string,
    readonly id: string,
  ) {}

  get key(): string {
    return (this.joined ??= `${this.head}${this.id}}`);
  }
}

/** The parts of a scope's identity keys that do not depend on the value: built once per scope. */
export interface ScopeKeys {
  readonly head: string;
  readonly namespace: string;
}

export function scopeKeys(prefix: string, scope: string): ScopeKeys {
  return { head: scope === GLOBAL_SCOPE ? `${prefix}:{` : `${prefix}:{${scope}:`, namespace: `${prefix}:${scope}` };
}
