import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { SpendLedger } from '../ledger/spend-ledger.js';
import { groupsCsv, rowsCsv } from '../ledger/spend-csv.js';
import { spendQuery } from '../ledger/spend-query.js';
import { groupReport, queriedRows, rowPage, type RowSource } from '../ledger/spend-report.js';

const CSV_HEADERS = { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="spend.csv"' };

/**
 * The spend ledger's admin API (under the admin token, in `adminRoutes`' context): `GET
 * /admin/api/spend` with filters (`user`, `team`, `key`, `model`, `from`, `to`) returns rows, newest
 * first and paged (`limit`, `offset`), or with `groupBy` (`day`, `model`, `user`) their sums;
 * `format=csv` exports either. A query it cannot read is a 400 saying what to fix.
 */
export function spendRoutes(api: FastifyInstance, ledger: SpendLedger): void {
  const source: RowSource = (filter) => ledger.rows(filter);
  api.get('/admin/api/spend', async (request, reply) => {
    const query = spendQuery(request.query as Record<string, unknown>);
    const { groupBy } = query;
    if (groupBy !== undefined) {
      const report = await groupReport(source, { ...query, groupBy });
      return query.format === 'csv' ? reply.headers(CSV_HEADERS).send(groupsCsv(report)) : report;
    }
    // Streamed: an export of every row of a month never sits whole in memory.
    if (query.format === 'csv') return reply.headers(CSV_HEADERS).send(Readable.from(rowsCsv(queriedRows(source, query))));
    return rowPage(source, query);
  });
}
