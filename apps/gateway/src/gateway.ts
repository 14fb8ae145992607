import { randomBytes, randomUUID } from 'node:crypto';
import { preloadTokenizer } from '@tollgate/llm';
import Fastify, { LogController } from 'fastify';
import { GatewayConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { API_FAMILIES, type GatewayConfig, type UpstreamsSpec } from './config/schema.js';
import { watchFile } from './config/watch.js';
import { Activity } from './dashboard/activity.js';
import { adminRoutes } from './dashboard/routes.js';
import { BudgetAlerts } from './alerts/budget-alerts.js';
import { ApiKeys } from './keys/api-keys.js';
import { SpendLedger } from './ledger/spend-ledger.js';
import { withDeadline } from './records/records.js';
import { SharedAddedGroups } from './records/added-groups.js';
import { SharedKeyLimits } from './records/key-limits.js';
import { SharedTierChanges } from './records/tier-changes.js';
import { healthRoutes } from './health.js';
import { parseJsonBodies } from './http/json-body.js';
import { serverOptions } from './http/server-options.js';
import { stdoutLines } from './log-lines.js';
import { GatewayMetrics } from './metrics.js';
import { LivePolicy } from './policy.js';
import { apiRoutes } from './proxy/routes.js';
import type { Upstreams } from './proxy/upstream.js';
import { startSimulatedUpstream, type SimulatedUpstream, type SimulatedUpstreamOptions } from './simulated/upstream.js';
import { openStore, timedStore } from './store.js';

export interface GatewayOptions {
  /** The environment the configuration is read with again when the file changes. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Watch the configuration file and apply tier, user and key changes. @default true */
  watch?: boolean;
  /** Tests: sees each request the simulated upstream receives. */
  onSimulatedRequest?: SimulatedUpstreamOptions['onRequest'];
  /** Where the log lines (JSON) go. @default stdout */
  logStream?: { write(line: string): void };
}

export interface RunningGateway {
  /** `http://host:port`, the OpenAI base URL being `${url}/v1`. */
  readonly url: string;
  readonly adminToken: string;
  /** Whether the admin token was generated for this run (none was configured). */
  readonly adminTokenGenerated: boolean;
  /** What the store is, for people (`sqlite:/path`, or the Redis URL without its password). */
  readonly store: string;
  /** Each API family's upstream (every one the simulated upstream, in demo mode). */
  readonly upstreams: Upstreams;
  /** Demo mode: the simulated upstream answers every API. */
  readonly simulated: boolean;
  readonly policy: LivePolicy;
  /** Applies the configuration file again (what a change to the file does). */
  reload(): void;
  close(): Promise<void>;
}

/**
 * The longest a store call may take (a decision, or the readiness probe) before the store counts
 * as failed: decisions are then refused (`onStoreError: 'deny'`) and `/health/ready` answers 503.
 */
const STORE_TIMEOUT_MS = 1_000;

/**
 * No "incoming request" and "request completed" lines per request: the gateway logs each chat
 * request once, with what it charged, and its failures where they happen.
 */
const QUIET_REQUESTS = new LogController({ disableRequestLogging: true });

/** Settings only a restart applies, named in the warning a reload logs when they change. */
const RESTART_ONLY = ['listen', 'store', 'dataDir', 'upstreams', 'adminToken', 'logLevel', 'alerts', 'ledger'] as const;

/** Each family's upstream: the configured ones, or the simulated one for every family. */
function upstreamsOf(spec: UpstreamsSpec, simulated: SimulatedUpstream | undefined): Upstreams {
  if (simulated) return Object.fromEntries(API_FAMILIES.map((family) => [family, { baseUrl: simulated.baseUrl, apiKey: simulated.apiKey, timeoutMs: 60_000, simulated: true }]));
  return Object.fromEntries(Object.entries((spec as Extract<UpstreamsSpec, { kind: 'http' }>).apis).map(([family, api]) => [family, { ...api, simulated: false }]));
}

/**
 * Starts the gateway: opens the store, starts the simulated upstream when no upstream is
 * configured, serves the OpenAI-compatible API, the dashboard, the admin API, `/metrics` and the
 * health endpoints, and watches the configuration file.
 */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<RunningGateway> {
  const hops = config.listen.trustProxy;
  // A number of hops as proxy-addr counts them (Fastify's types take only its function form).
  const trustProxy = typeof hops === 'number' ? (_address: string, hop: number) => hop < hops : hops;
  const stdout = options.logStream ? undefined : stdoutLines();
  // Request ids unique across restarts and instances: the spend ledger's rows and the log lines share them.
  const app = Fastify({ logger: { level: config.logLevel, stream: options.logStream ?? stdout }, logController: QUIET_REQUESTS, forceCloseConnections: true, trustProxy, genReqId: () => randomUUID(), ...serverOptions(config.listen) });
  parseJsonBodies(app);
  const metrics = new GatewayMetrics();
  const opened = openStore(config.store, config.ledger, (error) => app.log.error({ err: error }, 'redis connection error'));
  const policy = new LivePolicy(config.policy, timedStore(opened.store, metrics.storeLatency), STORE_TIMEOUT_MS);
  const activity = new Activity();
  const records = withDeadline(opened.records, STORE_TIMEOUT_MS);
  const tiers = new SharedTierChanges(records, policy, app.log);
  const groups = new SharedAddedGroups(records, policy, app.log);
  const alerts = config.alerts && new BudgetAlerts(config.alerts, records, app.log);
  const ledger = new SpendLedger({ store: opened.ledger, retentionDays: config.ledger.retentionDays, timeoutMs: STORE_TIMEOUT_MS, metrics, log: app.log });
  const keys: ApiKeys = new ApiKeys(records, () => ({ users: policy.config.users, keyNames: new Set([...policy.config.keys.values()].map((key) => key.id)) }), {
    check: (user, limits) => policy.checkKeyLimits(user, limits),
    // The keys' limits are read through the keys, which tell them of a change: one refers to the other.
    changed: (): Promise<void> => keyLimits.keyChanged(),
  });
  const keyLimits: SharedKeyLimits = new SharedKeyLimits(keys, policy, app.log);

  const simulated = config.upstreams.kind === 'simulated' ? await startSimulatedUpstream({ chunkDelayMs: config.upstreams.chunkDelayMs, onRequest: options.onSimulatedRequest }) : undefined;
  const upstreams = upstreamsOf(config.upstreams, simulated);
  const adminToken = config.adminToken ?? randomBytes(18).toString('base64url');
  const about = { upstream: simulated ? 'simulated' : Object.values(upstreams).map((upstream) => upstream.baseUrl).join(', '), store: opened.description };

  await app.register(apiRoutes, { prefix: '/v1', policy, keys, ledger, upstreams, metrics, activity, alerts, maxBodyBytes: config.listen.maxBodyBytes });
  await app.register(adminRoutes, { policy, keys, tiers, groups, activity, ledger, adminToken, about });
  await app.register(healthRoutes, { store: opened.store, storeTimeoutMs: STORE_TIMEOUT_MS, upstream: about.upstream });
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.text()));
  app.get('/', async (_request, reply) => reply.redirect('/dashboard'));

  // Runs from the watcher's timer, where a throw would end the process: whatever fails is logged,
  // and the configuration in force stays.
  const reload = () => {
    try {
      const next = loadConfig(config.file, options.env ?? process.env);
      void tiers.forget(policy.replace(next.policy)).catch((error: unknown) => app.log.error({ err: error }, 'forgetting the tier changes the file overtook failed'));
      const restart = RESTART_ONLY.filter((name) => JSON.stringify(next[name]) !== JSON.stringify(config[name]));
      app.log.info({ file: config.file, tiers: Object.keys(next.policy.tiers), users: next.policy.users.size, keys: next.policy.keys.size }, 'configuration reloaded: tiers, users and keys applied');
      if (restart.length > 0) app.log.warn({ changed: restart }, 'these settings changed in the file and apply only after a restart');
    } catch (error) {
      if (error instanceof GatewayConfigError) app.log.error({ file: config.file, problem: error.message }, 'the configuration file has an error; the previous configuration stays in force');
      else app.log.error({ file: config.file, err: error }, 'reloading the configuration failed; the previous configuration stays in force');
    }
  };
  const unwatch = options.watch === false ? () => undefined : watchFile(config.file, reload);

  // The tokenizer's ranks take a moment to load, once: better at start than on the first request.
  await preloadTokenizer('gpt-4o');
  await groups.start();
  await tiers.start();
  await keyLimits.start();
  let url: string;
  try {
    url = await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    unwatch();
    tiers.stop();
    keyLimits.stop();
    groups.stop();
    await ledger.close();
    await Promise.all([simulated?.close(), opened.close()]);
    stdout?.close();
    throw error;
  }
  if (simulated) app.log.warn({ upstream: simulated.baseUrl }, 'demo mode: the upstream is SIMULATED (no real model is called); set upstream.baseUrl or TOLLGATE_UPSTREAM_URL (and upstreams.anthropic.baseUrl or TOLLGATE_ANTHROPIC_URL) to proxy a real API');
  app.log.info({ url, store: opened.description, upstream: about.upstream }, 'gateway listening');

  return {
    url,
    adminToken,
    adminTokenGenerated: config.adminToken === undefined,
    store: opened.description,
    upstreams,
    simulated: simulated !== undefined,
    policy,
    reload,
    async close() {
      unwatch();
      tiers.stop();
      keyLimits.stop();
      groups.stop();
      alerts?.close();
      await app.close();
      // After the server: the last requests' rows are written before the store closes.
      await ledger.close();
      await Promise.all([simulated?.close(), opened.close()]);
      stdout?.close();
    },
  };
}
