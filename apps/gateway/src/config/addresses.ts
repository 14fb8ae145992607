import { isIP } from 'node:net';

/** The named ranges Fastify's `trustProxy` (proxy-addr) understands. */
export const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

/**
 * Whether Fastify's `trustProxy` reads `entry`: an IP address, `address/prefix` (CIDR),
 * `IPv4/netmask`, or a named range. Checked while loading, because Fastify throws on anything else
 * only when the server is built, with a stack trace instead of the file's line.
 */
export function isProxyAddress(entry: string): boolean {
  if ((PROXY_RANGE_NAMES as readonly string[]).includes(entry)) return true;
  const [address = '', range, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (range === undefined) return true;
  if (/^\d{1,3}$/.test(range)) return Number(range) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(range) === 4;
}
