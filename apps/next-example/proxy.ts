import { tollgateProxy } from '@tollgate/adapter-next';
import { NextResponse, type NextRequest } from 'next/server';
import { identify } from './lib/caller';
import { apiLimiter } from './lib/limiter';

/**
 * A first line of defence for every API route: 30 requests a minute per API key, refused with a 429
 * before any route runs. Routes that limit themselves with `withTollgate` (the chat) send their own
 * rate-limit headers; the others get the proxy's.
 */
export const proxy = tollgateProxy<NextRequest>({
  limiter: apiLimiter,
  identify,
  onAllowed: (request, { headers }) => (request.nextUrl.pathname.startsWith('/api/chat') ? undefined : NextResponse.next({ headers })),
});

export const config = { matcher: '/api/:path*' };
