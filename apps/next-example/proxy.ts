import { tollgateProxy } from '@tollgate/adapter-next';
import { NextResponse, type NextRequest } from 'next/server';
import { identify } from './lib/caller';
import { apiLimiter } from './lib/limiter';

/** The routes wrapped with `withTollgate`: they send rate-limit headers of their own. */
const limitsItself = (request: NextRequest) => request.nextUrl.pathname.startsWith('/api/chat');

/**
 * A first line of defence for every API route: 30 requests a minute per API key, refused with a 429
 * before any route runs. A route that limits itself with `withTollgate` (the chat) gets the proxy's
 * state on the request and lists the proxy's limit in its own headers; the others get the proxy's
 * headers on their response. (Response headers set here would hide the chat's: Next.js keeps the
 * proxy's value of a header both set.)
 */
export const proxy = tollgateProxy<NextRequest>({
  limiter: apiLimiter,
  identify,
  onAllowed: (request, { headers, requestHeaders }) =>
    limitsItself(request) ? NextResponse.next({ request: { headers: requestHeaders } }) : NextResponse.next({ headers }),
});

export const config = { matcher: '/api/:path*' };
