import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import { admin, client, eventually, gatewayWith, HELLO, POLICY, usedOf, writeConfig } from './support.js';

interface Issued {
  secret: string;
  key: { name: string; user: string; models?: string[]; limits?: unknown[]; createdAt: string; expiresAt?: string; revokedAt?: string; last4: string };
}

const issue = async (gateway: RunningGateway, body: unknown) => {
  const response = await admin(gateway, 'POST', '/admin/api/keys', body);
  return { status: response.status, json: (await response.json()) as Issued & { error?: { message: string } } };
};

/** The status of one chat completion with `secret`. */
const chat = (gateway: RunningGateway, secret: string, model = 'gpt-4o') =>
  client(gateway, secret)
    .chat.completions.create({ model, messages: HELLO, max_tokens: 5 })
    .then(
      () => 200,
      (error: unknown) => (error instanceof OpenAI.APIError ? error.status : Promise.reject(error)),
    );

describe('API keys issued through the admin API', () => {
  it('works at once, is listed without its secret, and stops at once when revoked', async () => {
    const gateway = await gatewayWith(writeConfig());

    const { status, json: issued } = await issue(gateway, { user: 'bob', name: 'ci-runner' });
    const served = await chat(gateway, issued.secret);
    const listed = await (await admin(gateway, 'GET', '/admin/api/keys')).json();
    await admin(gateway, 'POST', '/admin/api/keys/ci-runner/revoke');

    expect(status).toBe(201);
    expect(issued.secret).toMatch(/^sk-tg-/);
    expect(served).toBe(200);
    // Counted under the key's name, as a key of the file is under its id.
    expect(await usedOf(gateway.policy.limiter, { user: 'bob' })).toMatchObject({ rpm: 1 });
    expect(JSON.stringify(listed)).not.toContain(issued.secret);
    expect(listed.keys).toEqual([expect.objectContaining({ name: 'ci-runner', user: 'bob', last4: issued.secret.slice(-4) })]);
    expect(await chat(gateway, issued.secret)).toBe(401);
  });

  it('rotates: the new secret works, the old one stops', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { json: first } = await issue(gateway, { user: 'bob', name: 'laptop' });

    const rotated = (await (await admin(gateway, 'POST', '/admin/api/keys/laptop/rotate')).json()) as Issued;

    expect(rotated.key).toMatchObject({ name: 'laptop', user: 'bob' });
    expect(rotated.secret).not.toBe(first.secret);
    expect(await chat(gateway, rotated.secret)).toBe(200);
    expect(await chat(gateway, first.secret)).toBe(401);
  });

  it('refuses a model outside its allow-list with a 403, uncounted', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { json: issued } = await issue(gateway, { user: 'bob', name: 'cheap-only', models: ['gpt-4o-mini'] });

    const refused = await client(gateway, issued.secret).chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((refused as InstanceType<typeof OpenAI.PermissionDeniedError>).error).toMatchObject({ code: 'model_not_allowed' });
    expect(await usedOf(gateway.policy.limiter, { user: 'bob' })).toMatchObject({ rpm: 0 });
    expect(await chat(gateway, issued.secret, 'gpt-4o-mini')).toBe(200);
  });

  it('stops at its expiry', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { json: issued } = await issue(gateway, { user: 'bob', name: 'temporary', expiresAt: new Date(Date.now() + 1_000).toISOString() });

    expect(await chat(gateway, issued.secret)).toBe(200);
    expect(await eventually(() => chat(gateway, issued.secret), (status) => status === 401)).toBe(401);
  });

  it('survives a restart of the gateway (kept in the SQLite file)', async () => {
    const file = writeConfig();
    const before = await gatewayWith(file);
    const { json: issued } = await issue(before, { user: 'bob', name: 'kept' });
    await before.close();

    const after = await gatewayWith(file);

    expect(await chat(after, issued.secret)).toBe(200);
  });

  it.each([
    ['an unknown user', { user: 'mallory', name: 'x1' }, 400, /No user is named "mallory"/],
    ['a name another key in force has', { user: 'bob', name: 'taken' }, 409, /A key named "taken" exists/],
    ["a name of the file's keys (their counters would merge)", { user: 'bob', name: 'alice-key' }, 409, /A key named "alice-key" exists/],
    ['an unknown field', { user: 'bob', name: 'x2', budget: 5 }, 400, /Unknown field "budget"/],
    ['an expiry in the past', { user: 'bob', name: 'x3', expiresAt: '2020-01-01T00:00:00Z' }, 400, /expiresAt must be in the future/],
    ['models that are no list of names', { user: 'bob', name: 'x4', models: 'gpt-4o' }, 400, /models, when given, must be a non-empty list/],
  ])('refuses %s, issuing nothing', async (_what, body, status, message) => {
    const gateway = await gatewayWith(writeConfig());
    await issue(gateway, { user: 'bob', name: 'taken' });

    const refused = await issue(gateway, body);

    expect(refused.status).toBe(status);
    expect(refused.json.error!.message).toMatch(message);
    expect((await (await admin(gateway, 'GET', '/admin/api/keys')).json()).keys.map((key: { name: string }) => key.name)).toEqual(['taken']);
  });

  it('an address that sent 20 unknown keys in a minute gets 429s for the next ones, unread; known keys still pass', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { json } = await issue(gateway, { user: 'alice', name: 'before' });
    // Looked up once before the address is blocked: its lookup is remembered for a second.
    expect(await chat(gateway, json.secret)).toBe(200);
    const guesses = Array.from({ length: 20 }, (_, i) => `sk-tg-guess-${i}`);

    const statuses = [];
    for (const guess of guesses) statuses.push(await chat(gateway, guess));
    const blocked = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-tg-guess-20', 'content-type': 'application/json' }, body: '{}' });

    expect(statuses).toEqual(Array(20).fill(401));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await blocked.json()).toMatchObject({ error: { code: 'too_many_failed_authentications' } });
    expect(await chat(gateway, 'sk-test-alice')).toBe(200);
    expect(await chat(gateway, json.secret)).toBe(200);
  });

  it('with limits of its own: its requests count against them too, in the same decision, and its user\'s other keys do not', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { status, json } = await issue(gateway, { user: 'alice', name: 'capped', limits: [{ name: 'own-rpm', resource: 'requests', limit: 2, window: '1m' }] });
    expect(status).toBe(201);
    expect(json.key).toMatchObject({ limits: [{ name: 'own-rpm', scope: 'apiKey', resource: 'requests', limit: 2, window: '1m' }] });

    const statuses = [await chat(gateway, json.secret), await chat(gateway, json.secret), await chat(gateway, json.secret)];
    const refusal = await client(gateway, json.secret).chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).catch((error: unknown) => error);

    expect(statuses).toEqual([200, 200, 429]);
    expect((refusal as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ limit: 'own-rpm' });
    expect(await chat(gateway, 'sk-test-alice')).toBe(200);
    // The user's own limits counted the key's requests as well.
    expect(await usedOf(gateway.policy.limiter, { user: 'alice', apiKey: 'capped' })).toMatchObject({ rpm: 3, 'key-rpm': 2, 'own-rpm': 2 });
  });

  it('a key\'s own budget, in USD: refused once spent, and the rotated key keeps it', async () => {
    const gateway = await gatewayWith(writeConfig());
    const { json } = await issue(gateway, { user: 'bob', name: 'budgeted', limits: [{ name: 'key-usd', resource: 'cost', limit: 0.0001, reset: { every: 'day' } }] });

    const first = await chat(gateway, json.secret);
    const rotated = (await (await admin(gateway, 'POST', '/admin/api/keys/budgeted/rotate')).json()) as Issued;

    expect(first).toBe(200);
    expect(rotated.key.limits).toEqual(json.key.limits);
    expect(await chat(gateway, rotated.secret)).toBe(429);
    expect(await chat(gateway, 'sk-test-bob')).toBe(200);
  });

  it.each([
    ['a scope other than the key\'s', [{ name: 'k', scope: 'user', resource: 'requests', limit: 1, window: '1m' }], /scope/],
    ['the name of a limit the tier has', [{ name: 'rpm', resource: 'requests', limit: 1, window: '1m' }], /rpm/],
    ['no window nor reset', [{ name: 'k', resource: 'requests', limit: 1 }], /window/],
    ['not a list', { name: 'k' }, /limits/],
  ])('limits with %s: 400, and no key is issued', async (_what, limits, message) => {
    const gateway = await gatewayWith(writeConfig());

    const { status, json } = await issue(gateway, { user: 'alice', name: 'bad', limits });

    expect(status).toBe(400);
    expect(json.error?.message).toMatch(message);
    expect(((await (await admin(gateway, 'GET', '/admin/api/keys')).json()) as { keys: unknown[] }).keys).toEqual([]);
  });

  it('answers 404 for rotating or revoking a key no one issued', async () => {
    const gateway = await gatewayWith(writeConfig());

    expect((await admin(gateway, 'POST', '/admin/api/keys/ghost/revoke')).status).toBe(404);
    expect((await admin(gateway, 'POST', '/admin/api/keys/ghost/rotate')).status).toBe(404);
  });
});

/** The tier the gateway put a request of `secret` in. */
const tierOf = async (gateway: RunningGateway, secret: string) =>
  (await client(gateway, secret).chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).withResponse()).response.headers.get('x-tollgate-tier');

describe('tier changes made through the admin API', () => {
  it('survive a restart of the gateway (kept in the SQLite file)', async () => {
    const file = writeConfig();
    const before = await gatewayWith(file);
    await admin(before, 'PUT', '/admin/api/users/alice/tier', { tier: 'pro' });
    await before.close();

    const after = await gatewayWith(file);

    expect(await tierOf(after, 'sk-test-alice')).toBe('pro');
    // Moving the user back to the file's tier removes the change: it does not come back at the next start.
    await admin(after, 'PUT', '/admin/api/users/alice/tier', { tier: 'free' });
    await after.close();
    expect(await tierOf(await gatewayWith(file), 'sk-test-alice')).toBe('free');
  });
});

describe('API keys and tier changes shared by two gateway instances on one redis-server', () => {
  let redisDir: string;
  let redisPort: number;
  beforeAll(async () => {
    redisDir = mkdtempSync(join(tmpdir(), 'tollgate-keys-redis-'));
    redisPort = await startServer(redisDir);
  });
  afterAll(async () => {
    await stopServer(redisPort);
    rmSync(redisDir, { recursive: true, force: true });
  });

  it('a key issued on one works at once on the other, and stops there within a second of its revocation', async () => {
    const store = `redis://127.0.0.1:${redisPort}`;
    const [first, second] = [await gatewayWith(writeConfig(POLICY, { store })), await gatewayWith(writeConfig(POLICY, { store }))];

    const { json: issued } = await issue(first, { user: 'bob', name: 'shared' });
    expect(await chat(second, issued.secret)).toBe(200);

    await admin(first, 'POST', '/admin/api/keys/shared/revoke');
    expect(await chat(first, issued.secret)).toBe(401);
    // The other instance trusts what it read for a second at most.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(await chat(second, issued.secret)).toBe(401);
  });

  it('a key\'s own limits apply on the other instance too, on the shared counters', async () => {
    const store = `redis://127.0.0.1:${redisPort}`;
    const [first, second] = [await gatewayWith(writeConfig(POLICY, { store })), await gatewayWith(writeConfig(POLICY, { store }))];

    const { json: issued } = await issue(first, { user: 'bob', name: 'shared-capped', limits: [{ name: 'own-rpm', resource: 'requests', limit: 1, window: '1m' }] });
    expect(await chat(first, issued.secret)).toBe(200);
    // The other instance reads the issued keys' limits every second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    expect(await chat(second, issued.secret)).toBe(429);
  });

  it('a tier change made on one applies on the other within a second', async () => {
    const store = `redis://127.0.0.1:${redisPort}`;
    const [first, second] = [await gatewayWith(writeConfig(POLICY, { store })), await gatewayWith(writeConfig(POLICY, { store }))];
    expect(await tierOf(second, 'sk-test-alice')).toBe('free');

    await admin(first, 'PUT', '/admin/api/users/alice/tier', { tier: 'pro' });
    expect(await tierOf(first, 'sk-test-alice')).toBe('pro');
    // The other instance reads the changes every second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    expect(await tierOf(second, 'sk-test-alice')).toBe('pro');
    await admin(first, 'PUT', '/admin/api/users/alice/tier', { tier: 'free' });
  });
});
