import { describe, expect, it } from 'vitest';
import { openDashboard, screenshot, useChromium } from './browser.js';
import { admin, client, gatewayWith, HELLO, usedOf, writeConfig } from './support.js';

const browser = useChromium();

/** alice and bob of the default policy, in a team of the file; a second team added through the admin API. */
const TEAMED = `
orgs:
  acme:
    limits:
      - { name: org-daily-usd, scope: org, resource: cost, limit: 1, reset: { every: day } }
teams:
  research:
    org: acme
    limits:
      - { name: team-rpm, scope: team, resource: requests, limit: 10, window: 1m }
tiers:
  member:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 100, window: 1m }
users:
  alice: { tier: member, team: research }
  bob: { tier: member, team: research }
keys:
  sk-test-alice: { user: alice }
  sk-test-bob: { user: bob }
`;

describe("the dashboard's teams page in headless Chromium", () => {
  it("shows each team's bars and its organisation's, as the store counts them, with its users; written to a screenshot", async () => {
    const gateway = await gatewayWith(writeConfig(TEAMED));
    await admin(gateway, 'PUT', '/admin/api/teams/ops', { limits: [{ name: 'ops-rpm', resource: 'requests', limit: 5, window: '1m' }] });
    for (const key of ['sk-test-alice', 'sk-test-alice', 'sk-test-bob']) await client(gateway, key).chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 });
    const used = await usedOf(gateway.policy.limiter, { user: 'alice', team: 'research', org: 'acme' });
    const violations: string[] = [];

    const page = await openDashboard(browser(), gateway, violations);
    await page.click('nav button[data-view="teams"]');
    const research = page.locator('[data-team="research"]');
    await research.locator('[data-limit="team-rpm"]').waitFor();

    expect(used['team-rpm']).toBe(3);
    expect(await research.locator('[data-limit="team-rpm"]').getAttribute('data-used')).toBe('3');
    expect(await research.locator('[data-limit="org-daily-usd"]').getAttribute('data-used')).toBe(String(used['org-daily-usd']));
    expect(await research.locator('.step').textContent()).toBe('Users: alice, bob');
    expect(await page.locator('[data-team="ops"] .pill.changed').textContent()).toBe('admin');
    expect(await page.locator('[data-team="ops"] .step').textContent()).toBe('No user is in this team yet.');
    expect(violations).toEqual([]);

    await screenshot(page, 'teams');
  });
});
