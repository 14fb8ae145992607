import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { GroupReport } from '../src/ledger/spend-report.js';
import { openDashboard, screenshot, useChromium } from './browser.js';
import { eventually, gatewayWith, HELLO, spend, writeConfig } from './support.js';

const browser = useChromium();

describe("the dashboard's keys page in headless Chromium", () => {
  it('issues a key (its secret shown once), which works at once, shows its spend, and stops when revoked; written to a screenshot', async () => {
    const gateway = await gatewayWith(writeConfig());
    const violations: string[] = [];
    const page = await openDashboard(browser(), gateway, violations);
    page.on('dialog', (dialog) => void dialog.accept());

    await page.click('nav button[data-view="keys"]');
    await page.locator('#key-user option[value="alice"]').waitFor({ state: 'attached' });
    await page.selectOption('#key-user', 'alice');
    await page.fill('#key-name', 'ci-agent');
    await page.fill('#key-models', 'gpt-4o, gpt-4o-mini');
    await page.click('#key-form button[type="submit"]');
    const secret = (await page.locator('#secret-value').textContent())!;

    expect(secret).toMatch(/^sk-tg-/);
    const openai = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 20 });
    const refused = await openai.chat.completions.create({ model: 'o3', messages: HELLO, max_tokens: 20 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const byKey = (await eventually(() => spend<GroupReport>(gateway, { groupBy: 'key' }), ({ body }) => body.groups.some((group) => group.key === 'ci-agent' && group.requests === 2))).body;
    const charged = byKey.groups.find((group) => group.key === 'ci-agent')!.costNanoUsd;
    expect(charged).toBeGreaterThan(0);

    // The page reads the ledger when asked: back to the keys view.
    await page.click('nav button[data-view="keys"]');
    const row = page.locator('#key-list tr[data-key-name="ci-agent"]');
    await page.locator(`#key-list tr[data-key-name="ci-agent"][data-cost-nano="${charged}"]`).waitFor();
    expect(await row.getAttribute('data-status')).toBe('active');
    expect((await row.locator('td').allTextContents()).slice(0, 4)).toEqual(['ci-agent', 'alice', 'gpt-4o, gpt-4o-mini', `…${secret.slice(-4)}`]);
    await screenshot(page, 'keys');

    await row.locator('button[data-action="revoke"]').click();
    await page.locator('#key-list tr[data-key-name="ci-agent"][data-status="revoked"]').waitFor();
    const afterRevoke = await eventually(
      () => openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 20 }).then(() => 'served', (error: unknown) => error),
      (outcome) => outcome instanceof OpenAI.AuthenticationError,
      2_000,
    );
    expect(afterRevoke).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(violations).toEqual([]);
  });
});
