import { createHash } from 'node:crypto';

/** The contents of each `<tag>…</tag>` element of a page. */
function inline(html: string, tag: 'script' | 'style'): string[] {
  return [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((match) => match[1]!);
}

const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The headers a page of the dashboard is served with: a Content-Security-Policy that lets it run
 * only its own inline script and style (by their hashes, taken from the page itself, so an edit to
 * the page cannot fall out of step), fetch only this origin, and never be framed (clickjacking on
 * its Reset button); `X-Frame-Options` for browsers that predate `frame-ancestors`.
 */
export function pageSecurityHeaders(html: string): Record<string, string> {
  const policy = [
    "default-src 'none'",
    `script-src ${inline(html, 'script').map(hashOf).join(' ')}`,
    `style-src ${inline(html, 'style').map(hashOf).join(' ')}`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ];
  return {
    'content-security-policy': policy.join('; '),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}
