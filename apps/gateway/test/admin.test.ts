import { describe, expect, it } from 'vitest';
import { admin, ADMIN_TOKEN, client, eventually, gatewayWith, HELLO, usedOf, writeConfig } from './support.js';

/** Calls the admin API with a raw body (the helper sends JSON of a value). */
const raw = (url: string, method: string, path: string, body: string | undefined) =>
  fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, body });

describe('the admin API validates its bodies', () => {
  it('refuses a reset whose body is not { } or { limit }, and resets nothing', async () => {
    const gateway = await gatewayWith(writeConfig());
    await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 });
    await eventually(() => usedOf(gateway.policy.limiter, { user: 'alice' }), (used) => used.inflight === 0);

    const statuses = [];
    for (const body of ['"x"', '[1]', 'null', '5', '{"limits":"rpm"}', '{"limit":5}', undefined]) statuses.push((await raw(gateway.url, 'POST', '/admin/api/users/alice/reset', body)).status);

    expect(statuses).toEqual([400, 400, 400, 400, 400, 400, 400]);
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 1 });
    const refused = await raw(gateway.url, 'POST', '/admin/api/users/alice/reset', '"x"');
    expect((await refused.json()).error.message).toBe('Send {} to reset every counter of the user, or { "limit": "<limit name>" } to reset one.');
    expect((await admin(gateway, 'POST', '/admin/api/users/alice/reset', { limit: 'rpm' })).status).toBe(200);
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 0 });
  });

  it('refuses a tier change whose body is not { tier }', async () => {
    const gateway = await gatewayWith(writeConfig());

    const statuses = [];
    for (const body of ['"pro"', '["pro"]', 'null', '{"tier":"pro","user":"bob"}']) statuses.push((await raw(gateway.url, 'PUT', '/admin/api/users/alice/tier', body)).status);

    expect(statuses).toEqual([400, 400, 400, 400]);
    expect(gateway.policy.tierOf('alice')).toBe('free');
  });
});
