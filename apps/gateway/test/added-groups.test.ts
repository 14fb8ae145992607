import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import { admin, client, gatewayWith, HELLO, POLICY, writeConfig } from './support.js';

/** Calls the admin API and reads its JSON answer. */
const call = async (gateway: RunningGateway, method: string, path: string, body?: unknown) => {
  const response = await admin(gateway, method, path, body);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> & { error?: { message: string } } };
};

/** Issues a key for `user` and returns its secret. */
const keyFor = async (gateway: RunningGateway, user: string) => (await call(gateway, 'POST', '/admin/api/keys', { user, name: `${user}-key` })).json.secret as string;

/** The status of one chat completion with `secret`, and the tier it was decided in. */
const chat = (gateway: RunningGateway, secret: string) =>
  client(gateway, secret)
    .chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 })
    .withResponse()
    .then(
      ({ response }) => ({ status: 200, tier: response.headers.get('x-tollgate-tier'), limit: undefined as unknown }),
      (error: unknown) => (error instanceof OpenAI.APIError ? { status: error.status, tier: null, limit: (error.error as { limit?: unknown } | undefined)?.limit } : Promise.reject(error)),
    );

const OPS = { limits: [{ name: 'ops-rpm', resource: 'requests', limit: 2, window: '1m' }] };

describe('users and teams added through the admin API', () => {
  it('a user added gets keys that work at once, in its tier; removed, its keys stop', async () => {
    const gateway = await gatewayWith(writeConfig());

    expect(await call(gateway, 'PUT', '/admin/api/users/dave', { tier: 'pro' })).toMatchObject({ status: 200, json: { user: 'dave', tier: 'pro' } });
    const secret = await keyFor(gateway, 'dave');
    expect(await chat(gateway, secret)).toMatchObject({ status: 200, tier: 'pro' });

    expect((await call(gateway, 'DELETE', '/admin/api/users/dave')).status).toBe(200);
    expect((await chat(gateway, secret)).status).toBe(401);
  });

  it("a team added: its limit counts all its users together, and refuses the next of them in the same decision", async () => {
    const gateway = await gatewayWith(writeConfig());
    expect((await call(gateway, 'PUT', '/admin/api/teams/ops', OPS)).status).toBe(200);
    await call(gateway, 'PUT', '/admin/api/users/carl', { tier: 'pro', team: 'ops' });
    await call(gateway, 'PUT', '/admin/api/users/dana', { tier: 'pro', team: 'ops' });
    const [carl, dana] = [await keyFor(gateway, 'carl'), await keyFor(gateway, 'dana')];

    const statuses = [(await chat(gateway, carl)).status, (await chat(gateway, carl)).status];
    const refused = await chat(gateway, dana);

    expect(statuses).toEqual([200, 200]);
    expect(refused).toMatchObject({ status: 429, limit: 'ops-rpm' });
    const { json } = await call(gateway, 'GET', '/admin/api/teams');
    expect(json.teams).toContainEqual({ id: 'ops', org: null, limits: [{ ...OPS.limits[0], scope: 'team' }], source: 'admin', users: ['carl', 'dana'] });
  });

  it('survive a restart of the gateway (kept in the SQLite file)', async () => {
    const file = writeConfig();
    const before = await gatewayWith(file);
    await call(before, 'PUT', '/admin/api/teams/ops', OPS);
    await call(before, 'PUT', '/admin/api/users/carl', { tier: 'pro', team: 'ops' });
    const secret = await keyFor(before, 'carl');
    await before.close();

    const after = await gatewayWith(file);

    expect(await chat(after, secret)).toMatchObject({ status: 200, tier: 'pro' });
    expect(after.policy.config.users.get('carl')).toEqual({ tier: 'pro', team: 'ops' });
  });

  it.each([
    ['a user the file defines', 'PUT', '/admin/api/users/alice', { tier: 'pro' }, 409, /configuration file defines the user "alice"/],
    ['an unknown tier', 'PUT', '/admin/api/users/erin', { tier: 'gold' }, 400, /No tier is named "gold"/],
    ['an unknown team', 'PUT', '/admin/api/users/erin', { tier: 'pro', team: 'nope' }, 400, /No team is named "nope"/],
    ['a body with another field', 'PUT', '/admin/api/users/erin', { tier: 'pro', role: 'x' }, 400, /Send \{ "tier"/],
    ['a team limit in another scope', 'PUT', '/admin/api/teams/qa', { limits: [{ name: 'qa', scope: 'user', resource: 'requests', limit: 1, window: '1m' }] }, 400, /team's scope/],
    ['a team limit core cannot read', 'PUT', '/admin/api/teams/qa', { limits: [{ name: 'qa', resource: 'requests', limit: -1, window: '1m' }] }, 400, /team's limits cannot be used/],
    ['a team limit named as a tier limit', 'PUT', '/admin/api/teams/qa', { limits: [{ name: 'rpm', resource: 'requests', limit: 1, window: '1m' }] }, 400, /rpm/],
    ['removing a user the file defines', 'DELETE', '/admin/api/users/alice', undefined, 404, /file defines that one/],
    ['removing a team no one added', 'DELETE', '/admin/api/teams/nope', undefined, 404, /No team added/],
  ])('%s: refused, and nothing changes', async (_what, method, path, body, status, message) => {
    const gateway = await gatewayWith(writeConfig());
    const before = JSON.stringify([[...gateway.policy.config.users], [...gateway.policy.config.teams]]);

    const answer = await call(gateway, method, path, body);

    expect(answer.status).toBe(status);
    expect(answer.json.error?.message).toMatch(message);
    expect(JSON.stringify([[...gateway.policy.config.users], [...gateway.policy.config.teams]])).toBe(before);
  });

  it('a team with users in it cannot be removed; once they are gone it can', async () => {
    const gateway = await gatewayWith(writeConfig());
    await call(gateway, 'PUT', '/admin/api/teams/ops', OPS);
    await call(gateway, 'PUT', '/admin/api/users/carl', { tier: 'pro', team: 'ops' });

    expect(await call(gateway, 'DELETE', '/admin/api/teams/ops')).toMatchObject({ status: 409, json: { error: { message: expect.stringContaining('carl') } } });
    await call(gateway, 'DELETE', '/admin/api/users/carl');
    expect((await call(gateway, 'DELETE', '/admin/api/teams/ops')).status).toBe(200);
    expect(gateway.policy.config.teams.has('ops')).toBe(false);
  });
});

describe('users and teams added on one of two instances on one redis-server', () => {
  let redisDir: string;
  let redisPort: number;
  beforeAll(async () => {
    redisDir = mkdtempSync(join(tmpdir(), 'tollgate-groups-redis-'));
    redisPort = await startServer(redisDir);
  });
  afterAll(async () => {
    await stopServer(redisPort);
    rmSync(redisDir, { recursive: true, force: true });
  });

  it('reach the other within a second, and its decisions share the team\'s counters', async () => {
    const store = `redis://127.0.0.1:${redisPort}`;
    const [first, second] = [await gatewayWith(writeConfig(POLICY, { store })), await gatewayWith(writeConfig(POLICY, { store }))];
    await call(first, 'PUT', '/admin/api/teams/ops', OPS);
    await call(first, 'PUT', '/admin/api/users/carl', { tier: 'pro', team: 'ops' });
    await call(first, 'PUT', '/admin/api/users/dana', { tier: 'pro', team: 'ops' });
    const [carl, dana] = [await keyFor(first, 'carl'), await keyFor(first, 'dana')];
    await chat(first, carl);
    await chat(first, carl);
    // The other instance reads the added users and teams every second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    expect(await chat(second, dana)).toMatchObject({ status: 429, limit: 'ops-rpm' });
  });
});
