import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { GroupReport } from '../src/ledger/spend-report.js';
import { openDashboard, screenshot, useChromium } from './browser.js';
import { client, eventually, gatewayWith, HELLO, POLICY, spend, writeConfig } from './support.js';

const browser = useChromium();

describe('the dashboard\'s spend page in headless Chromium', () => {
  it('charts the spend by day and tables it by model and by day, as the ledger has it, and is written to a screenshot', async () => {
    const gateway = await gatewayWith(writeConfig());
    const openai = client(gateway, 'sk-test-alice');
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 50 });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 80 });
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'spend, by model' });
    await new Anthropic({ apiKey: 'sk-test-bob', baseURL: gateway.url, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 40, messages: HELLO });
    const byModel = (await eventually(() => spend<GroupReport>(gateway, { groupBy: 'model' }), ({ body }) => body.total.requests === 4)).body;
    const cost = (model: string) => String(byModel.groups.find((group) => group.key === model)!.costNanoUsd);
    // The day the ledger put the requests on (today, unless the run crossed midnight UTC).
    const [day, ...others] = (await spend<GroupReport>(gateway, { groupBy: 'day' })).body.groups.map((group) => group.key);
    const violations: string[] = [];

    const page = await openDashboard(browser(), gateway, violations);
    await page.click('nav button[data-view="spend"]');
    await page.locator('#spend-chart[data-total-nano]').waitFor({ state: 'attached' });

    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(await page.locator('#spend-chart').getAttribute('data-total-nano')).toBe(String(byModel.total.costNanoUsd));
    expect(byModel.total.costNanoUsd).toBeGreaterThan(0);
    // That day's bar is the only one, and it is all of the spend.
    expect(others).toEqual([]);
    expect(await page.locator('#spend-chart rect').count()).toBe(1);
    expect(await page.locator(`#spend-chart rect[data-day="${day}"]`).getAttribute('data-cost-nano')).toBe(String(byModel.total.costNanoUsd));
    for (const model of ['gpt-4o', 'claude-haiku-4-5', 'text-embedding-3-small']) {
      expect(await page.locator(`#spend-models [data-spend-model="${model}"]`).getAttribute('data-cost-nano')).toBe(cost(model));
    }
    const gpt4o = await page.locator('#spend-models [data-spend-model="gpt-4o"] td').allTextContents();
    expect(gpt4o.slice(0, 2)).toEqual(['gpt-4o', '2']);
    expect(gpt4o[4]).toBe(`$${(Number(cost('gpt-4o')) / 1e9).toFixed(6)}`);
    expect((await page.locator(`#spend-days [data-spend-day="${day}"] td`).allTextContents())[1]).toBe('4');
    expect(await page.locator('#spend-models [data-spend-model="text-embedding-3-small"] td').last().textContent()).toBe(`$${(Number(cost('text-embedding-3-small')) / 1e9).toFixed(9)}`);
    // The page works whole under its own Content-Security-Policy.
    expect(violations).toEqual([]);

    await screenshot(page, 'spend');
  });
});
