import type { Redis } from 'ioredis';
import { DAY_MS, type LedgerFilter, type LedgerRow, type LedgerStore } from './ledger-types.js';
/** Rows read per command: a query never loads a whole busy day at once. */
const CHUNK = 1_000;

const dayOf = (time: number) => Math.floor(time / DAY_MS);

/** Whether a row passes the filters a sorted set by time cannot apply. */
function matches(row: LedgerRow, filter: LedgerFilter): boolean {
  return (filter.user === undefined || row.user === filter.user)
    && (filter.team === undefined || row.team === filter.team)
    && (filter.key === undefined || row.key === filter.key)
    && (filter.model === undefined || row.model === filter.model);
}

/**
 * The ledger in Redis, on the counters' connection: one sorted set per UTC day, each row's JSON a
 * member scored by its time, so a time range is a range of scores over a few keys. A row written
 * again is the same member (a retried batch adds nothing). Each day's key expires once its last
 * row is past the retention, so the ledger stays bounded even when no instance prunes.
 */
export function redisLedger(client: Redis, prefix: string, retentionDays: number): LedgerStore {
  const retentionMs = retentionDays * DAY_MS;
  const keyOf = (day: number) => `${prefix}ledger:${new Date(day * DAY_MS).toISOString().slice(0, 10)}`;
  /** The oldest day a row can be on: keys before it have expired. */
  const oldestDay = () => dayOf(Date.now() - retentionMs);

  async function* rows(filter: LedgerFilter): AsyncIterable<readonly LedgerRow[]> {
    const to = filter.to ?? Date.now() + DAY_MS;
    const from = filter.from ?? 0;
    for (let day = dayOf(to - 1); day >= Math.max(dayOf(from), oldestDay()); day--) {
      for (let offset = 0; ; offset += CHUNK) {
        const members = await client.zrange(keyOf(day), `(${to}`, from, 'BYSCORE', 'REV', 'LIMIT', offset, CHUNK);
        const chunk = members.map((member) => JSON.parse(member) as LedgerRow).filter((row) => matches(row, filter));
        if (chunk.length > 0) yield chunk;
        if (members.length < CHUNK) break;
      }
    }
  }

  return {
    async append(batch) {
      const pipeline = client.multi();
      for (const row of batch) {
        const day = dayOf(row.time);
        pipeline.zadd(keyOf(day), row.time, JSON.stringify(row));
        pipeline.pexpireat(keyOf(day), (day + 1) * DAY_MS + retentionMs);
      }
      const failed = (await pipeline.exec())?.find(([error]) => error !== null);
      if (failed) throw failed[0];
    },
    rows,
    async prune(before) {
      // Older days' keys expire by themselves; the day the cutoff falls in loses its older rows.
      await client.zremrangebyscore(keyOf(dayOf(before)), '-inf', `(${before}`);
    },
    // The connection is the store's: it closes with it.
    close: async () => undefined,
  };
}
