import type { LedgerRow } from './ledger-types.js';
import type { GroupReport } from './spend-report.js';

type Cell = string | number | boolean | null;

/**
 * One CSV field (RFC 4180): quoted when it holds a quote, a comma or a line break, its quotes
 * doubled. Text that a spreadsheet would run as a formula (a client's model name of `=HYPERLINK(…)`)
 * gets a leading `'`, as OWASP advises for exports.
 */
export function csvField(value: Cell): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const line = (cells: readonly Cell[]) => `${cells.map(csvField).join(',')}\r\n`;

/** Nano-dollars as an exact decimal of USD (`12345` → `0.000012345`), never a float's rounding. */
export function usdText(nanoUsd: number): string {
  return `${Math.floor(nanoUsd / 1e9)}.${String(nanoUsd % 1e9).padStart(9, '0')}`;
}

const ROW_COLUMNS = ['time', 'requestId', 'user', 'team', 'key', 'route', 'requestedModel', 'model', 'degradeStep', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'toolCalls', 'costNanoUsd', 'costUsd', 'usageKnown', 'status', 'latencyMs', 'refusal'] as const;

/** The rows as CSV, a header first; `time` in ISO 8601 (UTC). */
export async function* rowsCsv(rows: AsyncIterable<LedgerRow>): AsyncIterable<string> {
  yield line(ROW_COLUMNS);
  for await (const row of rows) {
    yield line(ROW_COLUMNS.map((column) => (column === 'time' ? new Date(row.time).toISOString() : column === 'costUsd' ? usdText(row.costNanoUsd) : row[column])));
  }
}

/** A grouping as CSV: one line per group, a header first (the grouping's name, then the sums). */
export function groupsCsv({ groupBy, groups }: GroupReport): string {
  const sums = ['requests', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'toolCalls', 'costNanoUsd'] as const;
  return [line([groupBy, ...sums, 'costUsd']), ...groups.map((group) => line([group.key, ...sums.map((sum) => group[sum]), usdText(group.costNanoUsd)]))].join('');
}
