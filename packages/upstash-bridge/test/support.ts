/**
 * Each test file gets its own real redis-server (on a free port, in a temporary directory) and a
 * bridge in front of it, both stopped after the file's tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startBridge, type Bridge } from '../src/index.js';

export const token = 'test-token';

export interface Setup {
  bridge: Bridge;
  redisPort: number;
  /** A direct connection, to check what a request did (or did not do) in Redis. */
  direct: IORedis;
}

/** Registers beforeAll/afterAll hooks; the returned object is filled in before the first test. */
export function setupBridge(): Setup {
  const setup = {} as Setup;
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'upstash-bridge-'));
    setup.redisPort = await startServer(dir);
    setup.bridge = await startBridge({ redis: { port: setup.redisPort }, token });
    setup.direct = new IORedis({ port: setup.redisPort });
  });
  afterAll(async () => {
    await setup.bridge?.close();
    setup.direct?.disconnect();
    if (setup.redisPort) await stopServer(setup.redisPort);
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return setup;
}

let keys = 0;
/** A key no other test uses. */
export function key(name = 'k'): string {
  return `${name}:${process.pid}:${++keys}`;
}

/** A POST as the client would send it, returning the status and the parsed JSON body. */
export async function post(
  url: string,
  path: string,
  body: unknown,
  { base64 = false, auth = `Bearer ${token}` }: { base64?: boolean; auth?: string | null } = {},
): Promise<{ status: number; json: unknown; contentType: string | null }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers.authorization = auth;
  if (base64) headers['upstash-encoding'] = 'base64';
  const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as unknown, contentType: res.headers.get('content-type') };
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** An EVALSHA of this is never in the script cache: it is not the SHA1 of any script we load. */
export const UNKNOWN_SHA = '0'.repeat(40);
