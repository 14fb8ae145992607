import type { Identity } from '@tollgate/core';

/** The API key from `Authorization: Bearer <key>`, as OpenAI clients send it. */
function apiKeyOf(request: Request): string | undefined {
  return /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
}

/**
 * Who is calling, for every limit. A real app verifies the key (a database lookup, a signature)
 * before trusting it; this demo accepts any key, so each key is its own caller. Callers without a
 * key share one `anonymous` allowance rather than escaping the limits.
 */
export function identify(request: Request): Identity {
  return { apiKey: apiKeyOf(request) ?? 'anonymous' };
}
