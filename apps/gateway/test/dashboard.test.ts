import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openDashboard, screenshot, useChromium } from './browser.js';
import { ADMIN_TOKEN, client, gatewayWith, HELLO, POLICY, writeConfig } from './support.js';

const browser = useChromium();

/** `used` of one limit bar of one user, as the page shows it. */
const barUsed = (page: Page, user: string, limit: string) => page.locator(`[data-user="${user}"] > .bar[data-limit="${limit}"]`).getAttribute('data-used').then(Number);

/** What one limit bar of one user shows: its label's amounts, how wide its fill is (%) and its level. */
async function barShown(page: Page, user: string, limit: string): Promise<{ amounts: string; width: number; level: string }> {
  const bar = page.locator(`[data-user="${user}"] > .bar[data-limit="${limit}"]`);
  const amounts = (await bar.locator('.label span').nth(1).textContent())!.split(' · ')[0]!;
  const fill = bar.locator('.fill');
  const width = await fill.evaluate((node) => Number.parseFloat((node as HTMLElement).style.width));
  const level = (await fill.getAttribute('class'))!.replace('fill', '').trim();
  return { amounts, width, level };
}

describe('the dashboard in headless Chromium', () => {
  it('loads, shows the user\'s usage rising after requests and the refusals, and is written to a screenshot', async () => {
    // Two requests a minute for alice, so the third shows up as a refusal.
    const gateway = await gatewayWith(writeConfig(POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 3, window: 1m }\n      - { name: tpm')));
    const violations: string[] = [];
    const page = await openDashboard(browser(), gateway, violations);

    expect(await page.title()).toBe('Tollgate gateway');
    expect(await page.locator('#simulated').isVisible()).toBe(true);
    expect(await barUsed(page, 'alice', 'rpm')).toBe(0);
    expect(await page.locator('[data-user="alice"] [data-degrade-step]').textContent()).toMatch(/step 1 of 2 \(gpt-4o, max 512 tokens\)/);

    const openai = client(gateway, 'sk-test-alice');
    for (let i = 0; i < 3; i++) await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 50 });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch(() => undefined);

    // The page polls every 2 s: wait for it to show what the store holds.
    await page.waitForFunction(() => Number(document.querySelector('[data-user="alice"] > .bar[data-limit="rpm"]')?.getAttribute('data-used')) === 3, undefined, { timeout: 10_000 });
    await page.locator('#denials [data-denial="rpm"]').waitFor({ timeout: 10_000 });
    expect(await barUsed(page, 'alice', 'tpm')).toBeGreaterThan(0);
    expect(Number(await page.locator('[data-user="alice"] [data-spend]').getAttribute('data-spend'))).toBeGreaterThan(0);
    expect(await page.locator('[data-user="alice"] [data-key="alice-key"] .bar[data-limit="key-rpm"]').getAttribute('data-used')).toBe('3');
    expect(await page.locator('#chart').getAttribute('data-requests')).toBe('3');
    expect(await page.locator('#denials').textContent()).toContain('Rate limit reached on rpm');
    // The page works whole under its own Content-Security-Policy: no inline script, style or attribute it blocks.
    expect(violations).toEqual([]);

    await screenshot(page, 'dashboard');
  });

  it('never shows a budget as spent while its bar is not full: the text and the bar agree when the budget is nearly spent', async () => {
    // Issue 22: "$0.0005 of $0.0005" over a bar that was not full, for a user refused on a tiny budget.
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: cost, limit: 1, reset', 'resource: cost, limit: 0.0005, reset')));
    // 96% of the budget spent, through the gateway's own limiter and store.
    const spent = await gateway.policy.limiter.acquire({ user: 'alice' }, { cost: 0.00048 });
    await spent.lease!.record({ cost: 0.00048 });
    await spent.lease!.release();
    // The next call cannot reserve what it may cost in the $0.00002 left: refused on the budget.
    const refused = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 50 }).then(() => undefined, (error: unknown) => error);
    expect(refused).toMatchObject({ status: 429, error: { code: 'rate_limit_exceeded', limit: 'daily-usd' } });

    const page = await openDashboard(browser(), gateway);
    await page.waitForFunction(() => Number(document.querySelector('[data-user="alice"] > .bar[data-limit="daily-usd"]')?.getAttribute('data-used')) > 0, undefined, { timeout: 10_000 });

    const budget = await barShown(page, 'alice', 'daily-usd');
    expect(budget.amounts).toBe('$0.00048 of $0.0005');
    expect(budget.width).toBeLessThan(100);
    expect(budget.level).toBe('warn');
    expect(await page.locator('[data-user="alice"] [data-spend]').textContent()).toBe('$0.00048 of $0.0005 daily-usd');
  });

  it('draws a full bar exactly when the text says the limit is reached, and a partial one otherwise', async () => {
    // $9.996 of $10 rounds to "$10.00" at two decimals; 3 of 3 requests is full.
    const gateway = await gatewayWith(writeConfig(POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 3, window: 1m }\n      - { name: tpm')));
    const spent = await gateway.policy.limiter.acquire({ user: 'bob' }, { cost: 9.996 });
    await spent.lease!.record({ cost: 9.996 });
    await spent.lease!.release();
    const openai = client(gateway, 'sk-test-alice');
    for (let i = 0; i < 3; i++) await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 });

    const page = await openDashboard(browser(), gateway);
    await page.waitForFunction(() => Number(document.querySelector('[data-user="alice"] > .bar[data-limit="rpm"]')?.getAttribute('data-used')) === 3, undefined, { timeout: 10_000 });

    expect(await barShown(page, 'alice', 'rpm')).toEqual({ amounts: '3 of 3', width: 100, level: 'full' });
    expect(await barShown(page, 'bob', 'daily-usd')).toEqual({ amounts: '$9.996 of $10.00', width: 99.9, level: 'warn' });
  });

  it('is served with a Content-Security-Policy that allows only its own script and style, and may not be framed', async () => {
    const gateway = await gatewayWith(writeConfig());

    const response = await fetch(`${gateway.url}/dashboard`);

    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    expect(csp).toMatch(/(^|; )style-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('asks for the admin token when it has none, and refuses a wrong one', async () => {
    const gateway = await gatewayWith(writeConfig());
    const page = await browser().newPage();

    await page.goto(`${gateway.url}/dashboard`);
    await page.locator('#login').waitFor();
    expect(await page.locator('#app').isVisible()).toBe(false);
    await page.fill('#token', 'not-the-admin-token');
    await page.click('#login button');
    await page.locator('#login-error', { hasText: 'That token was refused.' }).waitFor();

    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login button');
    await page.locator('[data-user="bob"]').waitFor();
  });

  it('resets a user from the page', async () => {
    const gateway = await gatewayWith(writeConfig());
    await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    const page = await openDashboard(browser(), gateway);
    await page.waitForFunction(() => Number(document.querySelector('[data-user="alice"] > .bar[data-limit="rpm"]')?.getAttribute('data-used')) === 1, undefined, { timeout: 10_000 });

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('[data-user="alice"] button:has-text("Reset")');

    await page.waitForFunction(() => Number(document.querySelector('[data-user="alice"] > .bar[data-limit="rpm"]')?.getAttribute('data-used')) === 0, undefined, { timeout: 10_000 });
  });
});
