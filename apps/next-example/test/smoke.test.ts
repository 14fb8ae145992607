import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The app as it ships: `next build`, then `next start` on a free port, checked over real HTTP.
// The workspace packages must be built first (turbo's `test` task depends on `^build`).
const appDir = fileURLToPath(new URL('..', import.meta.url));
const nextBin = createRequire(import.meta.url).resolve('next/dist/bin/next');
// Vitest sets NODE_ENV=test, which `next build` rejects for a production build.
const env = { ...process.env, NODE_ENV: 'production' as const, NEXT_TELEMETRY_DISABLED: '1' };

function runNext(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [nextBin, ...args], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let server: ChildProcess | undefined;
let serverOutput = '';
let base = '';

/** Waits (up to 60 s) until the server answers `/`. */
async function waitUntilAnswering(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server?.exitCode !== null) throw new Error(`next start exited early:\n${serverOutput}`);
    const answered = await fetch(base).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`next start did not answer within 60 s:\n${serverOutput}`);
}

beforeAll(async () => {
  const build = await runNext(['build']);
  expect(build.code, build.output).toBe(0);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Its own process group, so that stopping it stops whatever it started.
  const started: ChildProcess = spawn(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  started.stdout?.on('data', (chunk: Buffer) => (serverOutput += chunk));
  started.stderr?.on('data', (chunk: Buffer) => (serverOutput += chunk));
  server = started;
  await waitUntilAnswering();
});

afterAll(async () => {
  if (!server?.pid || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server!.once('exit', resolve));
  process.kill(-server.pid, 'SIGTERM');
  await exited;
});

const chat = (apiKey: string, query = '', init: RequestInit = {}) =>
  fetch(`${base}/api/chat${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello from the smoke test' }] }),
    ...init,
  });

describe('the Next.js example, built and started', () => {
  it('renders the page', async () => {
    const response = await fetch(base);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(await response.text()).toContain('Tollgate × Next.js');
  });

  it('answers the chat route with the rate-limit headers of the proxy\'s limit and its own, then 429 with the JSON body after its limit', async () => {
    for (let i = 0; i < 5; i++) {
      const response = await chat('sk-smoke-chat');
      expect(response.status).toBe(200);
      // Both layers applied: the proxy's api-rpm (one policy per field item, draft-10) and the route's own.
      expect(response.headers.get('ratelimit-policy')).toBe('"api-rpm";q=30;w=60, "rpm";q=5;w=60, "tpm";q=20000;qu="tokens";w=60, "daily-usd";q=100;qu="usd-cents", "inflight";q=1;qu="concurrent-requests"');
      expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"api-rpm";r=${29 - i};t=\\d+, "rpm";r=${4 - i};t=\\d+, "tpm";r=\\d+;t=\\d+, "daily-usd";r=\\d+;t=\\d+, "inflight";r=0;t=\\d+$`));
      expect(await response.json()).toMatchObject({ object: 'chat.completion', model: 'demo-large', choices: [{ message: { content: 'You said: Hello from the smoke test' } }] });
    }

    const refused = await chat('sk-smoke-chat');

    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    // Issue 22: the route's refusal describes the limit that refused it (and the proxy's, which let it through), never the proxy's alone.
    expect(refused.headers.get('ratelimit')).toMatch(/^"api-rpm";r=24;t=\d+, "rpm";r=0;t=\d+, /);
    expect(refused.headers.get('ratelimit-policy')).toMatch(/^"api-rpm";q=30;w=60, "rpm";q=5;w=60, /);
    const body = await refused.json();
    expect(body).toEqual({
      error: {
        type: 'requests',
        code: 'rate_limit_exceeded',
        message: expect.stringMatching(/^Rate limit reached on rpm \(requests\): limit 5, used 5\. Please try again in \d+s\.$/),
        limit: 'rpm',
        retry_after_ms: Number(refused.headers.get('retry-after-ms')),
        param: null,
      },
    });
  });

  it('streams server-sent events holding the in-flight slot, and frees it when the client disconnects mid-stream', async () => {
    const client = new AbortController();
    const stream = await chat('sk-smoke-stream', '?stream=1', { signal: client.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const first = await stream.body!.getReader().read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{"object":"chat.completion.chunk"/);

    const meanwhile = await chat('sk-smoke-stream');
    expect(meanwhile.status).toBe(429);
    expect((await meanwhile.json()).error.limit).toBe('inflight');

    client.abort();
    // Refusals charge nothing, so asking again until the slot is free costs no allowance.
    const deadline = Date.now() + 5_000;
    let after = await chat('sk-smoke-stream');
    while (after.status === 429 && Date.now() < deadline) {
      await after.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 200));
      after = await chat('sk-smoke-stream');
    }
    expect(after.status).toBe(200);
  });

  it('applies the proxy limit to every API route, with its headers where the route sends none', async () => {
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${base}/api/models`, { headers: { authorization: 'Bearer sk-smoke-models' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"api-rpm";r=${29 - i};t=\\d+$`));
      expect(response.headers.get('ratelimit-policy')).toBe('"api-rpm";q=30;w=60');
      await response.body?.cancel();
    }

    const refused = await fetch(`${base}/api/models`, { headers: { authorization: 'Bearer sk-smoke-models' } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toMatch(/^"api-rpm";r=0;t=\d+$/);
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect((await refused.json()).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', limit: 'api-rpm', param: null });

    // The proxy runs before the chat route too: the same key is refused there without reaching it.
    const chatRefused = await chat('sk-smoke-models');
    expect(chatRefused.status).toBe(429);
    expect((await chatRefused.json()).error.limit).toBe('api-rpm');
    expect(chatRefused.headers.get('ratelimit')).toMatch(/^"api-rpm";r=0;t=\d+$/);
  });

  it('never echoes a proxy state that a client forged: the proxy replaces it with its own', async () => {
    const response = await chat('sk-smoke-forged', '', {
      headers: {
        authorization: 'Bearer sk-smoke-forged',
        'content-type': 'application/json',
        'x-tollgate-proxy-ratelimit': '"free-lunch";r=1000000;t=1',
        'x-tollgate-proxy-ratelimit-policy': '"free-lunch";q=1000000;w=1',
      },
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('ratelimit')).toMatch(/^"api-rpm";r=29;t=\d+, "rpm";r=4;t=\d+, /);
    expect(response.headers.get('ratelimit-policy')).not.toContain('free-lunch');
    await response.body?.cancel();
  });

  it('does not let a client-sent X-Forwarded-For or X-User-ID make a new caller', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const response = await chat('sk-smoke-spoof', '', {
        headers: { authorization: 'Bearer sk-smoke-spoof', 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${i}`, 'x-user-id': `user-${i}` },
      });
      statuses.push(response.status);
      await response.body?.cancel();
    }

    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
