import { isAbsolute, resolve } from 'node:path';
import type { LimitConfig, PolicyConfig } from '@tollgate/core';
import type { LlmModelPrice } from '@tollgate/llm';
import { isProxyAddress, PROXY_RANGE_NAMES } from './addresses.js';
import { GatewayConfigError } from './errors.js';
import { checkPolicy } from './policy-check.js';
import type { GatewayPolicy, KeyEntry, Org, OverToolLimit, Team, UserEntry } from './policy-types.js';
import type { AlertsSpec } from '../alerts/budget-alerts.js';
import { masked, type ConfigSource, type Path } from './source.js';

/** Where counters live: an SQLite file (the default, embedded) or a Redis server shared by instances. */
export type StoreSpec = { kind: 'sqlite'; path: string } | { kind: 'redis'; url: string };

/** Where requests go: an OpenAI-compatible API, or the built-in simulated one (demo mode). */
/** One upstream API: its base URL (with `/v1`), the key the gateway sends it, how long a call may take. */
export interface HttpUpstreamSpec {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
}

/** The API families the gateway speaks: each family's routes go to its own upstream. */
export const API_FAMILIES = ['openai', 'anthropic'] as const;
export type ApiFamily = (typeof API_FAMILIES)[number];

/**
 * Where requests go: per family, a configured upstream (or none: that family's routes answer 404),
 * or, when none is configured, the simulated upstream for every family (demo mode).
 */
export type UpstreamsSpec =
  | { readonly kind: 'http'; readonly apis: Readonly<Partial<Record<ApiFamily, HttpUpstreamSpec>>> }
  | { readonly kind: 'simulated'; readonly chunkDelayMs: number };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fastify's `trustProxy`: which proxies' `X-Forwarded-For` to believe for the `ip` scope. */
export type TrustProxy = false | number | string[];

const OVER_TOOL_LIMIT: readonly OverToolLimit[] = ['refuse', 'remove'];

/** Where the gateway listens, and how long and how large a client's request may be. */
export interface Listen {
  readonly host: string;
  readonly port: number;
  readonly trustProxy: TrustProxy;
  /** The request line and headers must arrive within this many ms (else 408, and the connection closes). */
  readonly headersTimeoutMs: number;
  /** The whole request, its body included, must arrive within this many ms (else 408, and the connection closes). */
  readonly requestTimeoutMs: number;
  /** The largest chat completion body, in bytes (else 413). */
  readonly maxBodyBytes: number;
}

export interface GatewayConfig {
  /** The configuration file, absolute. */
  readonly file: string;
  readonly listen: Listen;
  readonly dataDir: string;
  readonly store: StoreSpec;
  readonly upstreams: UpstreamsSpec;
  /** Protects the dashboard and the admin API; `undefined`: one is generated at start. */
  readonly adminToken: string | undefined;
  readonly logLevel: LogLevel;
  /** Budget alerts' webhook; `undefined`: none are sent. */
  readonly alerts: AlertsSpec | undefined;
  readonly ledger: LedgerSpec;
  readonly policy: GatewayPolicy;
}

/** The spend ledger: how long its rows are kept. */
export interface LedgerSpec {
  readonly retentionDays: number;
}

const TOP_LEVEL = ['listen', 'store', 'dataDir', 'upstream', 'upstreams', 'demo', 'admin', 'logLevel', 'alerts', 'ledger', 'limits', 'tiers', 'orgs', 'teams', 'users', 'keys', 'prices'];
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const DEFAULT_PORT = 8787;
/** Time enough for headers over a slow link; a client that takes longer is holding a connection, not sending. */
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** The body included: 4 MiB at a modest 1 Mbit/s, with room to spare. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Room for long prompts and a few inline images, far below what would let one request hog the gateway. */
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const MIN_ADMIN_TOKEN_LENGTH = 16;
/** The built-in upstream streams a chunk of words every this many ms, so streams look like a model's. */
const DEFAULT_CHUNK_DELAY_MS = 25;

type Json = Record<string, unknown>;

/** Reads values at paths of one file, failing with the file's line and a fix. */
class Reader {
  constructor(private readonly source: ConfigSource) {}

  fail(path: Path, problem: string, fix: string): never {
    return this.source.fail(path, problem, fix);
  }

  object(path: Path, value: unknown, known?: readonly string[]): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `expected a mapping of options, got ${describeYaml(value)}`, 'write it as nested "key: value" lines, or {} for none');
    }
    if (known) {
      for (const key of Object.keys(value as Json)) {
        if (!known.includes(key)) this.fail([...path, key], `unknown option "${key}"`, `remove it, or use one of: ${known.join(', ')}`);
      }
    }
    return value as Json;
  }

  optionalObject(path: Path, value: unknown, known?: readonly string[]): Json {
    return value === undefined || value === null ? {} : this.object(path, value, known);
  }

  string(path: Path, value: unknown, fix: string): string {
    return text(value, (problem, how) => this.fail(path, problem, how), fix);
  }

  integer(path: Path, value: unknown, min: number, max: number, fix: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(path, `expected a whole number from ${min} to ${max}, got ${describeYaml(value)}`, fix);
    }
    return value as number;
  }
}

type Fail = (problem: string, fix: string) => never;

function text(value: unknown, fail: Fail, fix: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(`expected a text value, got ${describeYaml(value)}`, fix);
  return value as string;
}

/** A bad value in the words of the configuration file (a list, a mapping, nothing), not JavaScript's. */
function describeYaml(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** `sqlite`, `sqlite:<file>` (relative to the data directory) or a `redis://` / `rediss://` URL. */
function parseStore(value: string, dataDir: string, fail: Fail): StoreSpec {
  if (value === 'sqlite' || value === 'sqlite:') return { kind: 'sqlite', path: resolve(dataDir, 'tollgate.db') };
  if (value.startsWith('sqlite:')) {
    const file = value.slice('sqlite:'.length);
    return { kind: 'sqlite', path: isAbsolute(file) ? file : resolve(dataDir, file) };
  }
  if (/^rediss?:\/\//.test(value)) {
    try {
      new URL(value);
    } catch {
      fail(`"${value}" is not a valid Redis URL`, 'write it as redis://[user:password@]host:port[/db]');
    }
    return { kind: 'redis', url: value };
  }
  return fail(`unknown store "${value}"`, 'use "sqlite" (a file in dataDir), "sqlite:<file>", or a redis://host:port URL to share limits between gateway instances');
}

/** An `http(s)://` base URL of an API, without a trailing slash. */
function parseBaseUrl(value: string, fail: Fail, example: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail(`"${value}" is not an http(s) URL`, `give the API's base URL including /v1, e.g. ${example}`);
  }
  return value.replace(/\/+$/, '');
}

/**
 * `false` (the default: the socket's peer is the client), a number of proxy hops, or the proxies'
 * addresses and CIDR ranges. Never `true`: a client reaching the gateway directly would choose its own IP.
 */
function trustProxyOf(read: Reader, value: unknown): TrustProxy {
  const path = ['listen', 'trustProxy'];
  const fix = 'give the number of proxies in front of the gateway (e.g. 1), or their addresses, e.g. [10.0.0.0/8]; leave it out when clients connect directly';
  if (value === undefined || value === false) return false;
  if (typeof value === 'number') return read.integer(path, value, 1, 16, fix);
  if (!Array.isArray(value) || value.length === 0 || !value.every((entry) => typeof entry === 'string' && entry !== '')) {
    return read.fail(path, `expected a number of hops or a list of addresses, got ${describeYaml(value)}`, fix);
  }
  value.forEach((entry: string, index) => {
    if (!isProxyAddress(entry)) read.fail([...path, index], `"${entry}" is not an IP address, a CIDR range or one of ${PROXY_RANGE_NAMES.join(', ')}`, fix);
  });
  return value as string[];
}

/** How long and how large a request may be: `listen.headersTimeoutMs`, `requestTimeoutMs` and `maxBodyBytes`. */
function requestBounds(read: Reader, listen: Json): Pick<Listen, 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxBodyBytes'> {
  const ms = (name: string, fallback: number) =>
    listen[name] === undefined ? fallback : read.integer(['listen', name], listen[name], 100, 3_600_000, `milliseconds, e.g. ${fallback}`);
  const headersTimeoutMs = ms('headersTimeoutMs', DEFAULT_HEADERS_TIMEOUT_MS);
  const requestTimeoutMs = ms('requestTimeoutMs', DEFAULT_REQUEST_TIMEOUT_MS);
  // Node's rule: the headers arrive within the time the whole request has.
  if (headersTimeoutMs > requestTimeoutMs) {
    read.fail(['listen', 'headersTimeoutMs'], `headersTimeoutMs (${headersTimeoutMs}) is longer than requestTimeoutMs (${requestTimeoutMs})`, 'the headers are part of the request: make headersTimeoutMs at most requestTimeoutMs');
  }
  const maxBodyBytes = listen.maxBodyBytes === undefined
    ? DEFAULT_MAX_BODY_BYTES
    : read.integer(['listen', 'maxBodyBytes'], listen.maxBodyBytes, 1024, 64 * 1024 * 1024, `the largest chat request body in bytes, e.g. ${DEFAULT_MAX_BODY_BYTES} (4 MiB)`);
  return { headersTimeoutMs, requestTimeoutMs, maxBodyBytes };
}

/** The environment variables that override the file (secrets belong there rather than in the file). */
const ENV = {
  host: 'HOST',
  port: 'PORT',
  dataDir: 'TOLLGATE_DATA_DIR',
  redisUrl: 'REDIS_URL',
  store: 'TOLLGATE_STORE',
  upstreamUrl: 'TOLLGATE_UPSTREAM_URL',
  upstreamKey: 'TOLLGATE_UPSTREAM_KEY',
  anthropicUrl: 'TOLLGATE_ANTHROPIC_URL',
  alertWebhook: 'TOLLGATE_ALERT_WEBHOOK',
  alertSecret: 'TOLLGATE_ALERT_SECRET',
  anthropicKey: 'TOLLGATE_ANTHROPIC_KEY',
  adminToken: 'TOLLGATE_ADMIN_TOKEN',
  logLevel: 'LOG_LEVEL',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/** A value from the environment or the file: errors name whichever it came from. */
function pick(read: Reader, env: Env, variable: string, path: Path, fileValue: unknown): { value: unknown; fail: Fail } {
  const fromEnv = env[variable];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { value: fromEnv, fail: (problem, fix) => { throw new GatewayConfigError(`environment variable ${variable}`, undefined, '', problem, fix); } };
  }
  return { value: fileValue, fail: (problem, fix) => read.fail(path, problem, fix) };
}

/** Per family: its section of `upstreams`, its environment variables, and an example base URL. */
const UPSTREAMS: Record<ApiFamily, { readonly url: string; readonly key: string; readonly example: string }> = {
  openai: { url: ENV.upstreamUrl, key: ENV.upstreamKey, example: 'https://api.openai.com/v1' },
  anthropic: { url: ENV.anthropicUrl, key: ENV.anthropicKey, example: 'https://api.anthropic.com/v1' },
};
const UPSTREAM_FIELDS = ['baseUrl', 'apiKey', 'timeoutMs'];
const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;

/**
 * `upstreams: { openai, anthropic }`, each `{ baseUrl, apiKey, timeoutMs }`; `upstream:` is the
 * short form of `upstreams.openai` (one OpenAI-compatible API). With no base URL anywhere, the
 * simulated upstream serves every family.
 */
function readUpstreams(read: Reader, env: Env, root: Json): UpstreamsSpec {
  const sections = read.optionalObject(['upstreams'], root.upstreams, [...API_FAMILIES]);
  if (root.upstream !== undefined && sections.openai !== undefined) {
    read.fail(['upstream'], 'both upstream and upstreams.openai are set', 'keep one: upstream is the short form of upstreams.openai');
  }
  const apis: Partial<Record<ApiFamily, HttpUpstreamSpec>> = {};
  for (const family of API_FAMILIES) {
    const path = family === 'openai' && root.upstream !== undefined ? ['upstream'] : ['upstreams', family];
    const raw = read.optionalObject(path, family === 'openai' ? (root.upstream ?? sections.openai) : sections[family], UPSTREAM_FIELDS);
    const { url, key, example } = UPSTREAMS[family];
    const baseUrl = pick(read, env, url, [...path, 'baseUrl'], raw.baseUrl);
    if (baseUrl.value === undefined) continue;
    const apiKey = pick(read, env, key, [...path, 'apiKey'], raw.apiKey);
    apis[family] = {
      baseUrl: parseBaseUrl(text(baseUrl.value, baseUrl.fail, `e.g. ${example}`), baseUrl.fail, example),
      apiKey: apiKey.value === undefined ? undefined : text(apiKey.value, apiKey.fail, `the upstream API key; better, leave it out of the file and set ${key}`),
      timeoutMs: raw.timeoutMs === undefined ? DEFAULT_UPSTREAM_TIMEOUT_MS : read.integer([...path, 'timeoutMs'], raw.timeoutMs, 1, 3_600_000, 'the longest an upstream call may take, in ms'),
    };
  }
  if (Object.keys(apis).length > 0) return { kind: 'http', apis };
  const demo = read.optionalObject(['demo'], root.demo, ['chunkDelayMs']);
  const chunkDelayMs = demo.chunkDelayMs === undefined ? DEFAULT_CHUNK_DELAY_MS : read.integer(['demo', 'chunkDelayMs'], demo.chunkDelayMs, 0, 10_000, 'milliseconds between streamed chunks, e.g. 25');
  return { kind: 'simulated', chunkDelayMs };
}

/** The fractions of a budget alerts fire at, unless the file says. */
const DEFAULT_ALERT_FRACTIONS = [0.5, 0.8, 1];

/** `alerts: { webhook, secret, fractions }`: none without a webhook. */
function readAlerts(read: Reader, env: Env, root: Json): AlertsSpec | undefined {
  const raw = read.optionalObject(['alerts'], root.alerts, ['webhook', 'secret', 'fractions']);
  const webhook = pick(read, env, ENV.alertWebhook, ['alerts', 'webhook'], raw.webhook);
  if (webhook.value === undefined) return undefined;
  const url = parseBaseUrl(text(webhook.value, webhook.fail, 'e.g. https://ops.example.com/hooks/tollgate'), webhook.fail, 'https://ops.example.com/hooks/tollgate');
  const secret = pick(read, env, ENV.alertSecret, ['alerts', 'secret'], raw.secret);
  const fractions = raw.fractions ?? DEFAULT_ALERT_FRACTIONS;
  const fix = 'list rising fractions of a budget between 0 and 1, e.g. [0.5, 0.8, 1]';
  if (!Array.isArray(fractions) || fractions.length === 0) read.fail(['alerts', 'fractions'], `expected a list of fractions, got ${describeYaml(fractions)}`, fix);
  (fractions as unknown[]).forEach((fraction, index) => {
    if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1) || (index > 0 && fraction <= (fractions as number[])[index - 1]!)) {
      read.fail(['alerts', 'fractions', index], `expected a fraction above the one before and at most 1, got ${describeYaml(fraction)}`, fix);
    }
  });
  return {
    url,
    secret: secret.value === undefined ? undefined : text(secret.value, secret.fail, `a long random string the receiver checks signatures with; better, set ${ENV.alertSecret}`),
    fractions: fractions as number[],
  };
}

/** Days the spend ledger keeps its rows, unless the file says. */
const DEFAULT_LEDGER_RETENTION_DAYS = 30;

/** `ledger: { retentionDays }`. */
function readLedger(read: Reader, root: Json): LedgerSpec {
  const raw = read.optionalObject(['ledger'], root.ledger, ['retentionDays']);
  const retentionDays = raw.retentionDays === undefined ? DEFAULT_LEDGER_RETENTION_DAYS : read.integer(['ledger', 'retentionDays'], raw.retentionDays, 1, 3_650, `the days a request's row is kept, e.g. ${DEFAULT_LEDGER_RETENTION_DAYS}`);
  return { retentionDays };
}

/**
 * Validates a parsed configuration file, with the environment's overrides. Relative paths in the
 * file are relative to its folder (`dir`); in the environment, to the working directory.
 */
export function validate(source: ConfigSource, dir: string, env: Env = {}): GatewayConfig {
  const read = new Reader(source);
  const root = read.object([], source.value, TOP_LEVEL);

  const listenRaw = read.optionalObject(['listen'], root.listen, ['host', 'port', 'trustProxy', 'headersTimeoutMs', 'requestTimeoutMs', 'maxBodyBytes']);
  const host = pick(read, env, ENV.host, ['listen', 'host'], listenRaw.host ?? '127.0.0.1');
  const port = pick(read, env, ENV.port, ['listen', 'port'], listenRaw.port ?? DEFAULT_PORT);
  const portValue = typeof port.value === 'string' && /^\d+$/.test(port.value) ? Number(port.value) : port.value;
  if (typeof portValue !== 'number' || !Number.isSafeInteger(portValue) || portValue < 0 || portValue > 65_535) {
    port.fail(`expected a port from 0 to 65535, got ${describeYaml(port.value)}`, 'a TCP port, e.g. 8787 (0 picks a free one)');
  }
  const listen = {
    host: text(host.value, host.fail, 'an address to listen on, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)'),
    port: portValue as number,
    trustProxy: trustProxyOf(read, listenRaw.trustProxy),
    ...requestBounds(read, listenRaw),
  };

  const dataDirValue = pick(read, env, ENV.dataDir, ['dataDir'], root.dataDir ?? '.data');
  const dataDir = resolve(env[ENV.dataDir] ? process.cwd() : dir, text(dataDirValue.value, dataDirValue.fail, 'a folder for the SQLite file, e.g. .data'));
  const storeValue = env[ENV.redisUrl] ? pick(read, env, ENV.redisUrl, ['store'], undefined) : pick(read, env, ENV.store, ['store'], root.store ?? 'sqlite');
  const store = parseStore(text(storeValue.value, storeValue.fail, 'use "sqlite" or a redis://host:port URL'), dataDir, storeValue.fail);

  const upstreams = readUpstreams(read, env, root);

  const adminRaw = read.optionalObject(['admin'], root.admin, ['token']);
  const token = pick(read, env, ENV.adminToken, ['admin', 'token'], adminRaw.token);
  let adminToken: string | undefined;
  if (token.value !== undefined) {
    adminToken = text(token.value, token.fail, `a long random string; better, leave it out of the file and set ${ENV.adminToken}`);
    if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH) token.fail(`the admin token is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters`, 'use a long random string, e.g. the output of: openssl rand -hex 24');
  }

  const level = pick(read, env, ENV.logLevel, ['logLevel'], root.logLevel ?? 'info');
  if (!LOG_LEVELS.includes(level.value as LogLevel)) level.fail(`unknown log level ${describeYaml(level.value)}`, `use one of: ${LOG_LEVELS.join(', ')}`);

  return { file: source.file, listen, dataDir, store, upstreams, adminToken, logLevel: level.value as LogLevel, alerts: readAlerts(read, env, root), ledger: readLedger(read, root), policy: readPolicy(read, source, root) };
}

/** A team's or an organisation's `limits:` list (checked as limits by `checkPolicy`). */
function limitList(read: Reader, at: Path, value: unknown): LimitConfig[] {
  if (!Array.isArray(value)) read.fail([...at, 'limits'], `expected a list of limits, got ${describeYaml(value)}`, 'give it a limits: list, e.g. [{ name: team-daily-usd, scope: team, resource: cost, limit: 100, reset: { every: day } }]');
  return value as LimitConfig[];
}

function readPolicy(read: Reader, source: ConfigSource, root: Json): GatewayPolicy {
  const limits = root.limits === undefined ? [] : root.limits;
  if (!Array.isArray(limits)) read.fail(['limits'], `expected a list of limits, got ${describeYaml(limits)}`, 'write each limit as a "- { name, scope, resource, limit, window }" line, or leave limits out');

  const tiersRaw = read.object(['tiers'], root.tiers ?? read.fail(['tiers'], 'no tiers are defined', 'add a tiers: section with at least one tier, e.g. free: { limits: [...] }'));
  const tierNames = Object.keys(tiersRaw);
  if (tierNames.length === 0) read.fail(['tiers'], 'no tiers are defined', 'add at least one tier, e.g. free: { limits: [...] }');
  const tiers: Record<string, PolicyConfig> = {};
  const overToolLimit: Record<string, OverToolLimit> = {};
  for (const name of tierNames) {
    if (!NAME.test(name)) read.fail(['tiers', name], `"${name}" is not a tier name`, 'use lowercase letters, digits, "_" and "-", starting with a letter');
    const { overToolLimit: over = 'refuse', ...tier } = read.object(['tiers', name], tiersRaw[name], ['limits', 'degrade', 'lease', 'overToolLimit']);
    if (!Array.isArray(tier.limits)) read.fail(['tiers', name, 'limits'], `expected a list of limits, got ${describeYaml(tier.limits)}`, 'give the tier a limits: list (an empty list [] for none)');
    if (!OVER_TOOL_LIMIT.includes(over as OverToolLimit)) read.fail(['tiers', name, 'overToolLimit'], `expected refuse or remove, got ${describeYaml(over)}`, 'refuse (a 429) or remove (the request goes without the tool) for a request offering a tool past its toolCalls limit');
    tiers[name] = tier as unknown as PolicyConfig;
    overToolLimit[name] = over as OverToolLimit;
  }

  const orgs = new Map<string, Org>();
  for (const [id, value] of Object.entries(read.object(['orgs'], root.orgs ?? {}))) {
    if (!USER_ID.test(id)) read.fail(['orgs', id], `"${id}" is not an organisation id`, 'use letters, digits, "_", ".", "@" and "-" (at most 128)');
    orgs.set(id, { limits: limitList(read, ['orgs', id], read.object(['orgs', id], value, ['limits']).limits) });
  }
  const teams = new Map<string, Team>();
  for (const [id, value] of Object.entries(read.object(['teams'], root.teams ?? {}))) {
    if (!USER_ID.test(id)) read.fail(['teams', id], `"${id}" is not a team id`, 'use letters, digits, "_", ".", "@" and "-" (at most 128)');
    const team = read.object(['teams', id], value, ['org', 'limits']);
    const org = team.org === undefined ? undefined : read.string(['teams', id, 'org'], team.org, 'name the team\'s organisation (one of orgs:)');
    if (org !== undefined && !orgs.has(org)) read.fail(['teams', id, 'org'], `no organisation is named "${org}"`, `add "${org}: { limits: [...] }" under orgs:, or use one of: ${[...orgs.keys()].join(', ') || '(no organisations yet)'}`);
    teams.set(id, { ...(org !== undefined && { org }), limits: limitList(read, ['teams', id], team.limits) });
  }

  const usersRaw = read.object(['users'], root.users ?? {});
  const users = new Map<string, UserEntry>();
  for (const [id, value] of Object.entries(usersRaw)) {
    if (!USER_ID.test(id)) read.fail(['users', id], `"${id}" is not a user id`, 'use letters, digits, "_", ".", "@" and "-" (at most 128)');
    const user = read.object(['users', id], value, ['tier', 'team']);
    const tier = read.string(['users', id, 'tier'], user.tier, `give the user a tier: one of ${tierNames.join(', ')}`);
    if (!Object.hasOwn(tiers, tier)) read.fail(['users', id, 'tier'], `no tier is named "${tier}"`, `use one of: ${tierNames.join(', ')} — or define "${tier}" under tiers:`);
    const team = user.team === undefined ? undefined : read.string(['users', id, 'team'], user.team, 'name the user\'s team (one of teams:)');
    if (team !== undefined && !teams.has(team)) read.fail(['users', id, 'team'], `no team is named "${team}"`, `add "${team}: { limits: [...] }" under teams:, or use one of: ${[...teams.keys()].join(', ') || '(no teams yet)'}`);
    users.set(id, { tier, ...(team !== undefined && { team }) });
  }

  const keysRaw = read.object(['keys'], root.keys ?? read.fail(['keys'], 'no API keys are defined', 'add a keys: section mapping each API key to its user, e.g. sk-my-key: { user: demo }'));
  const keys = new Map<string, KeyEntry>();
  const ids = new Map<string, string>();
  for (const [secret, value] of Object.entries(keysRaw)) {
    if (secret.length < 8 || /\s/.test(secret)) read.fail(['keys', secret], 'an API key must be at least 8 characters, without spaces', 'use a long random key, e.g. sk- followed by the output of: openssl rand -hex 16');
    const key = read.object(['keys', secret], value, ['user', 'name']);
    const user = read.string(['keys', secret, 'user'], key.user, 'name the user this key belongs to (one of users:)');
    if (!users.has(user)) read.fail(['keys', secret, 'user'], `no user is named "${user}"`, `add "${user}: { tier: ... }" under users:, or use one of: ${[...users.keys()].join(', ') || '(no users yet)'}`);
    const id = key.name === undefined ? masked(secret) : read.string(['keys', secret, 'name'], key.name, 'a short label for the key, e.g. laptop');
    const clash = ids.get(id);
    if (clash !== undefined) read.fail(['keys', secret], `two keys are called "${id}"`, `give one of them (this one or ${masked(clash)}) another name:`);
    ids.set(id, secret);
    keys.set(secret, { id, user });
  }

  const prices = read.optionalObject(['prices'], root.prices) as Record<string, LlmModelPrice>;
  const policy: GatewayPolicy = { limits: limits as LimitConfig[], tiers, users, teams, orgs, keys, prices, overToolLimit };
  checkPolicy(policy, source);
  return policy;
}
