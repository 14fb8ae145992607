import { unitsToUsd } from '@tollgate/core';
import type { LedgerFilter, LedgerRow } from './ledger-types.js';
import type { Grouping, SpendQuery } from './spend-query.js';

/** Where the report reads rows: the ledger (`SpendLedger.rows`). */
export type RowSource = (filter: LedgerFilter) => AsyncIterable<readonly LedgerRow[]>;

/** Sums over some rows. Cost in nano-dollars (exact) and in USD (for people). */
export interface SpendTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  toolCalls: number;
  costNanoUsd: number;
  costUsd: number;
}

/** One group's sums: `key` is the UTC day (`2026-12-06`), the model (null: never sent upstream) or the user. */
export type SpendGroup = { key: string | null } & SpendTotals;

export interface RowPage {
  rows: Array<LedgerRow & { costUsd: number }>;
  offset: number;
  limit: number;
  /** The offset of the next page, or null when this is the last. */
  next: number | null;
}

export interface GroupReport {
  groupBy: Grouping;
  /** Days in time order; models and users by cost, the largest first. */
  groups: SpendGroup[];
  total: SpendTotals;
}

const KEY_OF: Record<Grouping, (row: LedgerRow) => string | null> = {
  day: (row) => new Date(row.time).toISOString().slice(0, 10),
  model: (row) => row.model,
  user: (row) => row.user,
  team: (row) => row.team,
  key: (row) => row.key,
};

const empty = (): SpendTotals => ({ requests: 0, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, toolCalls: 0, costNanoUsd: 0, costUsd: 0 });

function add(totals: SpendTotals, row: LedgerRow): void {
  totals.requests++;
  totals.inputTokens += row.inputTokens;
  totals.outputTokens += row.outputTokens;
  totals.cachedInputTokens += row.cachedInputTokens;
  totals.reasoningTokens += row.reasoningTokens;
  totals.toolCalls += row.toolCalls;
  totals.costNanoUsd += row.costNanoUsd;
  // From the exact sum each time, never summed as floats.
  totals.costUsd = unitsToUsd(totals.costNanoUsd);
}

/** Every row matching the query from its offset, newest first, up to its limit. */
export async function* queriedRows(source: RowSource, { filter, offset, limit = Infinity }: SpendQuery): AsyncIterable<LedgerRow> {
  let skipped = 0;
  let taken = 0;
  for await (const chunk of source(filter)) {
    for (const row of chunk) {
      if (skipped < offset) skipped++;
      else if (taken++ < limit) yield row;
      else return;
    }
  }
}

/** One page of rows, and where the next begins. */
export async function rowPage(source: RowSource, query: SpendQuery): Promise<RowPage> {
  const limit = query.limit!;
  // One row more than the page says whether there is a next one.
  const rows: Array<LedgerRow & { costUsd: number }> = [];
  for await (const row of queriedRows(source, { ...query, limit: limit + 1 })) rows.push({ ...row, costUsd: unitsToUsd(row.costNanoUsd) });
  const more = rows.length > limit;
  return { rows: rows.slice(0, limit), offset: query.offset, limit, next: more ? query.offset + limit : null };
}

/** The sums of the rows matching the query, per day, model, user, team or key. */
export async function groupReport(source: RowSource, query: SpendQuery & { groupBy: Grouping }): Promise<GroupReport> {
  const keyOf = KEY_OF[query.groupBy];
  const groups = new Map<string | null, SpendGroup>();
  const total = empty();
  for await (const chunk of source(query.filter)) {
    for (const row of chunk) {
      const key = keyOf(row);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { key, ...empty() }));
      add(group, row);
      add(total, row);
    }
  }
  const sorted = [...groups.values()];
  if (query.groupBy === 'day') sorted.sort((a, b) => a.key!.localeCompare(b.key!));
  else sorted.sort((a, b) => b.costNanoUsd - a.costNanoUsd || String(a.key).localeCompare(String(b.key)));
  return { groupBy: query.groupBy, groups: sorted, total };
}
