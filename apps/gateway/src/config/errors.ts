import { errorPrefix } from '@tollgate/core';

/**
 * A configuration file the gateway cannot start with (or reload): where the problem is, what it
 * is, and how to fix it, in one message that reads well on a terminal.
 */
export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';

  constructor(
    /** The file, or the environment variable, the bad value came from. */
    readonly source: string,
    /** 1-based line in the file (undefined for an environment variable or an unreadable file). */
    readonly line: number | undefined,
    /** The option's path, e.g. `tiers.free.limits[0].limit` (empty for the whole file). */
    readonly path: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${errorPrefix('gateway')} ${source}${line === undefined ? '' : `:${line}`}: ${path ? `${path}: ` : ''}${problem}\n  Fix: ${fix}`);
  }
}
