import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import type { LedgerRow, LedgerStore } from '../src/ledger/ledger-types.js';
import { redisLedger } from '../src/ledger/redis-ledger.js';
import type { GroupReport } from '../src/ledger/spend-report.js';
import { sqliteLedger } from '../src/ledger/sqlite-ledger.js';
import { REDIS_PREFIX } from '../src/store.js';
import { admin, afterTest, gatewayWith, POLICY, spend, writeConfig } from './support.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Midnight UTC today: the seeded rows fall on today and the two days before. */
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const dayText = (time: number) => new Date(time).toISOString().slice(0, 10);
const ODD_MODEL = 'odd,"model"\nname';
const FORMULA_MODEL = '=HYPERLINK("https://example.com")';

function row(id: string, time: number, fields: Partial<LedgerRow>): LedgerRow {
  return { time, requestId: id, user: 'alice', team: 'research', key: 'alice-key', route: '/v1/chat/completions', requestedModel: 'gpt-4o', model: 'gpt-4o', degradeStep: 0, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0, toolCalls: 0, costNanoUsd: 0, usageKnown: true, status: 200, latencyMs: 12, refusal: null, ...fields };
}

/** Six requests over three days, three users, four keys and three models (and one never sent upstream). */
const ROWS: LedgerRow[] = [
  row('r1', today - 2 * DAY_MS + 10 * HOUR_MS, { costNanoUsd: 1_000, reasoningTokens: 2 }),
  row('r2', today - 2 * DAY_MS + 11 * HOUR_MS, { user: 'bob', team: null, key: 'bob-key', requestedModel: 'gpt-4o-mini', model: 'gpt-4o-mini', costNanoUsd: 200, toolCalls: 2 }),
  row('r3', today - DAY_MS + 9 * HOUR_MS, { key: 'alice-second', requestedModel: 'gpt-4o-mini', model: 'gpt-4o-mini', costNanoUsd: 30 }),
  row('r4', today - DAY_MS + 12 * HOUR_MS, { user: 'carol', key: 'carol-key', requestedModel: ODD_MODEL, model: 'claude-haiku-4-5', route: '/v1/messages', costNanoUsd: 4_000, cachedInputTokens: 4 }),
  row('r5', today + 60_000, { user: 'bob', team: null, key: 'bob-key', model: null, degradeStep: null, inputTokens: 0, outputTokens: 0, usageKnown: null, status: 429, refusal: 'rpm' }),
  row('r6', today - DAY_MS + 13 * HOUR_MS, { requestedModel: FORMULA_MODEL, costNanoUsd: 500 }),
];

const ids = (rows: readonly LedgerRow[]) => rows.map((r) => r.requestId);

let redisDir: string;
let redisPort: number;

beforeAll(async () => {
  redisDir = mkdtempSync(join(tmpdir(), 'tollgate-spend-redis-'));
  redisPort = await startServer(redisDir);
});

afterAll(async () => {
  if (redisPort) await stopServer(redisPort);
  rmSync(redisDir, { recursive: true, force: true });
});

/** Per store: the configuration's `store:` value, and the store's ledger opened beside the gateway's. */
const stores: Array<[string, { store: () => string; ledger: (gateway: RunningGateway) => LedgerStore }]> = [
  ['SQLite', { store: () => '', ledger: (gateway) => sqliteLedger(gateway.store.replace(/^sqlite:/, '')) }],
  [
    'one redis-server',
    {
      store: () => `redis://127.0.0.1:${redisPort}`,
      ledger: () => {
        const client = new Redis(redisPort, '127.0.0.1');
        afterTest(() => void client.disconnect());
        return redisLedger(client, REDIS_PREFIX, 30);
      },
    },
  ],
];

describe.each(stores)('GET /admin/api/spend on %s', (_name, { store, ledger }) => {
  /** A gateway whose ledger holds `ROWS` (and nothing else: each test has its own store). */
  async function seeded(): Promise<RunningGateway> {
    if (store() !== '') await new Redis(redisPort, '127.0.0.1').flushall().then(() => undefined);
    const gateway = await gatewayWith(writeConfig(POLICY, { store: store() }));
    const rows = ledger(gateway);
    await rows.append(ROWS);
    await rows.close();
    return gateway;
  }

  it('returns the rows newest first, a page at a time, with their cost in nano-dollars and USD', async () => {
    const gateway = await seeded();

    const first = await spend(gateway, { limit: '2' });
    const last = await spend(gateway, { limit: '2', offset: '4' });
    const all = await spend(gateway);

    expect(first.status).toBe(200);
    expect(ids(first.body.rows)).toEqual(['r5', 'r6']);
    expect(first.body).toMatchObject({ offset: 0, limit: 2, next: 2 });
    expect(ids(last.body.rows)).toEqual(['r2', 'r1']);
    expect(last.body.next).toBeNull();
    expect(ids(all.body.rows)).toEqual(['r5', 'r6', 'r4', 'r3', 'r2', 'r1']);
    expect(all.body.rows[2]).toEqual({ ...ROWS[3], costUsd: 0.000004 });
  });

  it('filters by user, team, key, model and time range, each alone and together', async () => {
    const gateway = await seeded();
    const idsOf = async (query: Record<string, string>) => ids((await spend(gateway, query)).body.rows);

    expect(await idsOf({ user: 'alice' })).toEqual(['r6', 'r3', 'r1']);
    expect(await idsOf({ team: 'research' })).toEqual(['r6', 'r4', 'r3', 'r1']);
    expect(await idsOf({ key: 'alice-second' })).toEqual(['r3']);
    expect(await idsOf({ model: 'gpt-4o' })).toEqual(['r6', 'r1']);
    expect(await idsOf({ from: dayText(today - DAY_MS), to: dayText(today) })).toEqual(['r6', 'r4', 'r3']);
    expect(await idsOf({ from: new Date(today - DAY_MS + 12 * HOUR_MS).toISOString() })).toEqual(['r5', 'r6', 'r4']);
    expect(await idsOf({ user: 'alice', model: 'gpt-4o', from: dayText(today - DAY_MS) })).toEqual(['r6']);
    expect(await idsOf({ user: 'nobody' })).toEqual([]);
  });

  it('sums requests, tokens and cost per day, per model and per user', async () => {
    const gateway = await seeded();

    const byDay = (await spend<GroupReport>(gateway, { groupBy: 'day' })).body;
    const byModel = (await spend<GroupReport>(gateway, { groupBy: 'model' })).body;
    const byUser = (await spend<GroupReport>(gateway, { groupBy: 'user', team: 'research' })).body;
    const byTeam = (await spend<GroupReport>(gateway, { groupBy: 'team' })).body;
    const byKey = (await spend<GroupReport>(gateway, { groupBy: 'key', user: 'alice' })).body;

    expect(byDay.groups.map(({ key, requests, costNanoUsd }) => [key, requests, costNanoUsd])).toEqual([
      [dayText(today - 2 * DAY_MS), 2, 1_200],
      [dayText(today - DAY_MS), 3, 4_530],
      [dayText(today), 1, 0],
    ]);
    expect(byDay.total).toEqual({ requests: 6, inputTokens: 50, outputTokens: 25, cachedInputTokens: 4, reasoningTokens: 2, toolCalls: 2, costNanoUsd: 5_730, costUsd: 0.00000573 });
    expect(byModel.groups.map(({ key, costNanoUsd }) => [key, costNanoUsd])).toEqual([['claude-haiku-4-5', 4_000], ['gpt-4o', 1_500], ['gpt-4o-mini', 230], [null, 0]]);
    expect(byUser.groups.map(({ key, requests, costNanoUsd }) => [key, requests, costNanoUsd])).toEqual([['carol', 1, 4_000], ['alice', 3, 1_530]]);
    expect(byTeam.groups.map(({ key, requests, costNanoUsd }) => [key, requests, costNanoUsd])).toEqual([['research', 4, 5_530], [null, 2, 200]]);
    expect(byKey.groups.map(({ key, requests, costNanoUsd }) => [key, requests, costNanoUsd])).toEqual([['alice-key', 2, 1_500], ['alice-second', 1, 30]]);
  });

  it('exports rows and groups as CSV, escaping what needs it', async () => {
    const gateway = await seeded();

    const rows = await admin(gateway, 'GET', '/admin/api/spend?format=csv&team=research');
    const groups = await admin(gateway, 'GET', '/admin/api/spend?format=csv&groupBy=model');

    expect(rows.status).toBe(200);
    expect(rows.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(rows.headers.get('content-disposition')).toBe('attachment; filename="spend.csv"');
    const lines = (await rows.text()).split('\r\n');
    expect(lines[0]).toBe('time,requestId,user,team,key,route,requestedModel,model,degradeStep,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,toolCalls,costNanoUsd,costUsd,usageKnown,status,latencyMs,refusal');
    // r6: a model name a spreadsheet would run as a formula, quoted (it holds quotes) and defused.
    expect(lines[1]).toBe(`${new Date(ROWS[5]!.time).toISOString()},r6,alice,research,alice-key,/v1/chat/completions,"'=HYPERLINK(""https://example.com"")",gpt-4o,0,10,5,0,0,0,500,0.000000500,true,200,12,`);
    // r4: a comma, quotes and a line break inside one quoted field (records end in CRLF; the field keeps its LF).
    expect(lines[2]).toBe(`${new Date(ROWS[3]!.time).toISOString()},r4,carol,research,carol-key,/v1/messages,"odd,""model""\nname",claude-haiku-4-5,0,10,5,4,0,0,4000,0.000004000,true,200,12,`);
    expect(lines.slice(3)).toEqual([expect.stringContaining(',r3,'), expect.stringContaining(',r1,'), '']);
    expect(await groups.text()).toBe('model,requests,inputTokens,outputTokens,cachedInputTokens,reasoningTokens,toolCalls,costNanoUsd,costUsd\r\nclaude-haiku-4-5,1,10,5,4,0,0,4000,0.000004000\r\ngpt-4o,2,20,10,0,2,0,1500,0.000001500\r\ngpt-4o-mini,2,20,10,0,0,2,230,0.000000230\r\n,1,0,0,0,0,0,0,0.000000000\r\n');
  });
});

describe('GET /admin/api/spend refuses what it cannot read', () => {
  it.each([
    [{ from: 'yesterday' }, 'from must be a date (2026-12-01) or a time with its zone (2026-12-01T09:30:00Z), got "yesterday".'],
    [{ to: '2026-12-01T10:00' }, 'to must be a date (2026-12-01) or a time with its zone (2026-12-01T09:30:00Z), got "2026-12-01T10:00".'],
    [{ from: '2026-12-02', to: '2026-12-01' }, 'from must be before to (from is inclusive, to exclusive).'],
    [{ limit: '0' }, 'limit must be a whole number from 1 to 1000, got "0".'],
    [{ limit: '1001' }, 'limit must be a whole number from 1 to 1000, got "1001".'],
    [{ offset: '-1' }, 'offset must be a whole number from 0 to 1000000000, got "-1".'],
    [{ groupBy: 'week' }, 'groupBy must be one of day, model, user, team, key, got "week".'],
    [{ format: 'xml' }, 'format must be json or csv, got "xml".'],
    [{ groupBy: 'day', limit: '10' }, 'limit and offset page rows: leave them out with groupBy, which returns every group.'],
    [{ usr: 'alice' }, 'Unknown parameter "usr": use user, team, key, model, from, to, limit, offset, groupBy, format.'],
    [{ user: '' }, 'user is empty: give it a value, or leave it out.'],
  ])('%j: 400', async (query, message) => {
    const gateway = await gatewayWith(writeConfig());

    const answer = await spend<{ error: { message: string; status: number } }>(gateway, query);

    expect(answer).toEqual({ status: 400, body: { error: { message, status: 400 } } });
  });

  it('a parameter given twice: 400', async () => {
    const gateway = await gatewayWith(writeConfig());

    const response = await admin(gateway, 'GET', '/admin/api/spend?user=alice&user=bob');

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { message: 'user is given more than once: give it once.', status: 400 } });
  });

  it('without the admin token: 401', async () => {
    const gateway = await gatewayWith(writeConfig());

    const response = await admin(gateway, 'GET', '/admin/api/spend', undefined, 'not-the-admin-token');

    expect(response.status).toBe(401);
  });
});
