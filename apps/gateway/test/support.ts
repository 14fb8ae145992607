import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, usedOf } from '@tollgate/test-kit';
import OpenAI from 'openai';
import { afterEach, expect } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../src/gateway.js';
import type { RowPage } from '../src/ledger/spend-report.js';

export { eventually, usedOf } from '@tollgate/test-kit';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the test (in reverse order of registration). */
export function afterTest(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** A fresh folder, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gateway-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** Tiers and keys of most tests: `free` with a per-minute request limit, and a daily budget ladder. */
export const POLICY = `
tiers:
  free:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 100, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 100000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 1, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 4 }
      - { name: key-rpm, scope: apiKey, resource: requests, limit: 100, window: 1m }
    degrade:
      budget: daily-usd
      steps:
        - { below: 0.5, model: gpt-4o, maxTokens: 512 }
        - { model: gpt-4o-mini, maxTokens: 64 }
  pro:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 1000000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 10, reset: { every: day } }
users:
  alice: { tier: free }
  bob: { tier: pro }
keys:
  sk-test-alice: { user: alice, name: alice-key }
  sk-test-alice-2: { user: alice, name: alice-second }
  sk-test-bob: { user: bob, name: bob-key }
`;

/** Anchors of anchors: a few lines that expand to millions of values (a "billion laughs"). */
export const ALIAS_BOMB = `bomb:
  a: &a [x, x, x, x, x, x, x, x, x, x]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
`;

/**
 * A configuration file in a fresh folder: listening on a free port, SQLite in that folder, quiet,
 * forwarding to the simulated upstream unless given an upstream's base URL.
 */
export function writeConfig(policy: string = POLICY, { chunkDelayMs = 2, listen = '{ host: 127.0.0.1, port: 0 }', upstream = '', logLevel = 'silent', store = '' } = {}): string {
  const file = join(tempDir(), 'gateway.yaml');
  const upstreamLine = upstream === '' ? '' : `upstream: { baseUrl: "${upstream}" }\n`;
  const storeLine = store === '' ? '' : `store: ${store}\n`;
  writeFileSync(file, `listen: ${listen}\nlogLevel: ${logLevel}\nadmin: { token: ${ADMIN_TOKEN} }\ndemo: { chunkDelayMs: ${chunkDelayMs} }\n${upstreamLine}${storeLine}${policy}`);
  return file;
}

/** A log destination for `GatewayOptions.logStream` that keeps the gateway's log lines, parsed. */
export function logLines(): { stream: { write(line: string): void }; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { stream: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }, lines };
}

/** A gateway from a configuration file (by default the simulated upstream), stopped after the test. */
export async function gatewayWith(file: string, options: GatewayOptions = {}): Promise<RunningGateway> {
  const gateway = await startGateway(loadConfig(file, {}), { env: {}, ...options });
  cleanups.push(() => gateway.close());
  return gateway;
}

/** The official SDK pointed at the gateway, with the SDK's retries off unless asked. */
export function client(gateway: RunningGateway, apiKey: string, options: { maxRetries?: number } = {}): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: options.maxRetries ?? 0 });
}

/** Calls the admin API. */
export async function admin(gateway: RunningGateway, method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${gateway.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/**
 * Opens a stream with `open`, reads its first two events, checks that it holds the user's
 * in-flight slot, goes away, and returns the user's limits once the lease is released.
 */
export async function leaveMidStream(gateway: RunningGateway, user: string, open: (signal: AbortSignal) => Promise<AsyncIterable<unknown>>): Promise<Record<string, number>> {
  const abort = new AbortController();
  const iterator = (await open(abort.signal))[Symbol.asyncIterator]();
  await iterator.next();
  await iterator.next();
  expect((await usedOf(gateway.policy.limiter, { user })).inflight).toBe(1);
  abort.abort();
  return eventually(() => usedOf(gateway.policy.limiter, { user }), (u) => u.inflight === 0);
}

export const HELLO = [{ role: 'user' as const, content: 'Hello from the gateway tests' }];

/** The spend ledger's admin API with `query`: its status and JSON answer (a page of rows unless `T` says). */
export async function spend<T = RowPage>(gateway: RunningGateway, query: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await admin(gateway, 'GET', `/admin/api/spend?${new URLSearchParams(query)}`);
  return { status: response.status, body: (await response.json()) as T };
}
