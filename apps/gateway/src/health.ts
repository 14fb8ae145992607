import type { Store } from '@tollgate/core';
import type { FastifyInstance } from 'fastify';

/** What the store did with a probe: answered, failed, or said nothing within the time a decision has. */
export type StoreHealth = 'ok' | 'error' | 'timeout';

/** A batch that charges nothing and writes nothing: one round trip to the store, nothing more. */
const PROBE = { charges: [], dryRun: true, adjustments: [] } as const;

/** Sends the store an empty dry run, and says how it went within `timeoutMs`. */
export async function probeStore(store: Store, timeoutMs: number): Promise<StoreHealth> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StoreHealth>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
  const answer = (async (): Promise<StoreHealth> => {
    await store.apply(PROBE);
    return 'ok';
  })().catch((): StoreHealth => 'error');
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthDependencies {
  readonly store: Store;
  /** The time a decision gives the store: ready means a decision made now would get its answer. */
  readonly storeTimeoutMs: number;
  /** `simulated`, or the upstream's base URL. */
  readonly upstream: string;
}

/**
 * `GET /health/live`: the process answers (restart it if not). `GET /health/ready`: the store
 * answers within a decision's timeout (send it traffic only then; 503 otherwise). `GET /health`,
 * the original endpoint, is the liveness answer with the upstream named.
 */
export async function healthRoutes(app: FastifyInstance, { store, storeTimeoutMs, upstream }: HealthDependencies): Promise<void> {
  app.get('/health/live', async () => ({ ok: true }));
  app.get('/health/ready', async (_request, reply) => {
    const health = await probeStore(store, storeTimeoutMs);
    return reply.code(health === 'ok' ? 200 : 503).send({ ok: health === 'ok', store: health });
  });
  app.get('/health', async () => ({ ok: true, upstream }));
}
