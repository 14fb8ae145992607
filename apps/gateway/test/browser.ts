import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import { ADMIN_TOKEN } from './support.js';

/** Where the runs leave their screenshots (gitignored), for people to look at. */
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));

/**
 * Debian's chromium (never a downloaded build), started with a fresh profile before the calling
 * file's tests and closed after them; returns how to reach it.
 */
export function useChromium(): () => BrowserContext {
  let profile: string;
  let browser: BrowserContext | undefined;
  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return () => browser!;
}

/** Opens the dashboard with the admin token; the Content-Security-Policy violations it reports (Chromium logs each as a console error) go to `violations`. */
export async function openDashboard(browser: BrowserContext, gateway: RunningGateway, violations: string[] = []): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  await page.goto(`${gateway.url}/dashboard#token=${ADMIN_TOKEN}`);
  await page.locator('[data-user="alice"]').waitFor();
  return page;
}

/** Writes the whole page to `test-results/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: `${RESULTS}${name}.png`, fullPage: true });
}
