import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IGNORES_CAP, runBudgetScenario, SCENARIOS, type StoreTarget } from './budget-scenario.js';

const nano = (usd: number) => Math.round(usd * 1e9);

let redisDir: string;
let redisPort: number;

beforeAll(async () => {
  redisDir = mkdtempSync(join(tmpdir(), 'tollgate-gateway-budget-'));
  redisPort = await startServer(redisDir);
});

afterAll(async () => {
  if (redisPort) await stopServer(redisPort);
  rmSync(redisDir, { recursive: true, force: true });
});

const stores: Array<[string, () => StoreTarget]> = [
  ['SQLite', () => ({ kind: 'sqlite' })],
  ['Redis', () => ({ kind: 'redis', url: `redis://127.0.0.1:${redisPort}` })],
];

describe.each(stores)('a hundred agents against a $1 budget, through the gateway on %s', (_name, store) => {
  it.each(SCENARIOS.map((scenario) => [`${scenario.behaviour}${scenario.ladder ? ', with a ladder' : ''}`, scenario] as const))('%s', async (_label, scenario) => {
    const figures = await runBudgetScenario(store(), scenario);

    expect(figures.calls).toBeGreaterThan(0);
    // Never below what the upstream billed, however it misbehaves.
    expect(nano(figures.chargedUsd)).toBeGreaterThanOrEqual(nano(figures.billedUsd));
    if (IGNORES_CAP.includes(scenario.behaviour)) {
      // The one exception: its overrun is charged, counted, and refuses the caller while the budget has no room.
      expect(figures.overruns).toBeGreaterThan(0);
      if (figures.chargedUsd >= figures.budgetUsd) expect(figures.nextRefused).toBe(true);
    } else {
      expect(nano(figures.chargedUsd)).toBeLessThanOrEqual(nano(figures.budgetUsd));
      expect(figures.overruns).toBe(0);
    }
    // Every scenario spends enough that the budget refuses some of the agents.
    expect(figures.refused).toBeGreaterThan(0);
  });
});
