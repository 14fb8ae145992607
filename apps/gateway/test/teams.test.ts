import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../src/config/errors.js';
import { loadConfig } from '../src/config/load.js';
import type { RunningGateway } from '../src/gateway.js';
import { admin, client, eventually, gatewayWith, HELLO, usedOf, writeConfig } from './support.js';

const GROUPS = `
orgs:
  acme:
    limits:
      - { name: org-daily-usd, scope: org, resource: cost, limit: 0.0003, reset: { every: day } }
teams:
  research:
    org: acme
    limits:
      - { name: team-rpm, scope: team, resource: requests, limit: 3, window: 1m }
  ops:
    org: acme
    limits: []
tiers:
  member:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 100, window: 1m }
users:
  ann: { tier: member, team: research }
  ben: { tier: member, team: research }
  cal: { tier: member, team: ops }
  solo: { tier: member }
keys:
  sk-test-ann: { user: ann }
  sk-test-ben: { user: ben }
  sk-test-cal: { user: cal }
  sk-test-solo: { user: solo }
`;

/** A small chat completion with `key`: its status, and the limit that refused it, if one did. */
const chat = (gateway: RunningGateway, key: string) =>
  client(gateway, key)
    .chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 })
    .then(
      () => ({ status: 200, limit: undefined }),
      (error: unknown) => {
        if (!(error instanceof OpenAI.APIError)) throw error;
        return { status: error.status, limit: (error.error as { limit?: string }).limit };
      },
    );

describe('teams and organisations: their limits in each request\'s one decision', () => {
  it('a team\'s limit counts all its users together, and refuses the next of them while their own limits have room', async () => {
    const gateway = await gatewayWith(writeConfig(GROUPS.replace('limit: 0.0003', 'limit: 100')));

    const answers = [await chat(gateway, 'sk-test-ann'), await chat(gateway, 'sk-test-ann'), await chat(gateway, 'sk-test-ben'), await chat(gateway, 'sk-test-ben')];

    expect(answers.map(({ status }) => status)).toEqual([200, 200, 200, 429]);
    expect(answers[3]!.limit).toBe('team-rpm');
    expect(await usedOf(gateway.policy.limiter, { user: 'ben', team: 'research', org: 'acme' })).toMatchObject({ rpm: 1, 'team-rpm': 3 });
    // Another team of the organisation, and a user in no team, are not held by it.
    expect((await chat(gateway, 'sk-test-cal')).status).toBe(200);
    expect((await chat(gateway, 'sk-test-solo')).status).toBe(200);
    // The dashboard shows each user the team's and the organisation's bars beside their own.
    const overview = await (await admin(gateway, 'GET', '/admin/api/overview')).json();
    const ben = overview.users.find((user: { id: string }) => user.id === 'ben');
    expect(ben.limits.map((limit: { name: string; scope: string; used: number }) => [limit.name, limit.scope, limit.used])).toEqual([['rpm', 'user', 1], ['team-rpm', 'team', 3], ['org-daily-usd', 'org', expect.any(Number)]]);
  });

  it('an organisation\'s budget counts the spend of all its teams, and refuses them all once spent', async () => {
    const gateway = await gatewayWith(writeConfig(GROUPS.replace('limit: 3, window', 'limit: 1000, window')));

    const seen: Array<{ status: number; limit: string | undefined }> = [];
    for (let i = 0; i < 20 && !seen.some(({ status }) => status === 429); i++) seen.push(await chat(gateway, i % 2 === 0 ? 'sk-test-ann' : 'sk-test-cal'));
    const refused = seen.at(-1)!;
    const used = await eventually(() => usedOf(gateway.policy.limiter, { user: 'cal', team: 'ops', org: 'acme' }), (u) => u['org-daily-usd']! > 0);

    expect(refused).toEqual({ status: 429, limit: 'org-daily-usd' });
    expect(seen.filter(({ status }) => status === 200).length).toBeGreaterThanOrEqual(2);
    expect(used['org-daily-usd']).toBeLessThanOrEqual(0.0003);
    // Both teams' users are held, whoever spent it; a user in no organisation is not.
    expect((await chat(gateway, 'sk-test-ben')).limit).toBe('org-daily-usd');
    expect((await chat(gateway, 'sk-test-cal')).limit).toBe('org-daily-usd');
    expect((await chat(gateway, 'sk-test-solo')).status).toBe(200);
    // For alerting rules: each budget's used fraction, per level and id.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    const ratio = Number(/^tollgate_budget_used_ratio\{limit="org-daily-usd",scope="org",id="acme"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThanOrEqual(1);
  });

  it.each([
    ['a team\'s limit keyed on another scope', GROUPS.replace('{ name: team-rpm, scope: team,', '{ name: team-rpm, scope: user,'), /teams\.research\.limits\[0\]\.scope: a team's limit keys on scope team, got "user"/],
    ['a team\'s limit named as a tier\'s', GROUPS.replace('{ name: team-rpm,', '{ name: rpm,'), /teams\.research\.limits\[0\]\.name: the name "rpm" is a tier's limit's too/],
    ['a user in a team that does not exist', GROUPS.replace('cal: { tier: member, team: ops }', 'cal: { tier: member, team: sales }'), /users\.cal\.team: no team is named "sales"/],
    ['a team in an organisation that does not exist', GROUPS.replace('    org: acme\n    limits: []', '    org: globex\n    limits: []'), /teams\.ops\.org: no organisation is named "globex"/],
    ['a team\'s limit core refuses', GROUPS.replace('limit: 3, window: 1m', 'limit: -3, window: 1m'), /teams\.research\.limits\[0\]\.limit: .*limit must be/],
  ])('refuses %s at its line', (_what, text, message) => {
    let error: unknown;
    try {
      loadConfig(writeConfig(text), {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as Error).message).toMatch(message);
  });
});
