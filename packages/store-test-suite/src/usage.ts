import type { Identity, Limiter } from '@tollgate/core';

/**
 * What `identity` has used of each limit that applies to it, by the limit's name: a limit that does
 * not apply is absent, so an assertion on its `used` fails instead of reading zero.
 *
 * @example
 * expect((await usedOf(limiter, { user: 'u1' })).rpm).toBe(1);
 */
export async function usedOf(limiter: Limiter, identity: Identity): Promise<Record<string, number>> {
  return Object.fromEntries((await limiter.usage(identity)).map((state) => [state.name, state.used]));
}
