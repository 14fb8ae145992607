/**
 * What the adapters' and stores' tests share, so each package's test support holds only what is
 * particular to its framework or store.
 */
import { ALL_ALGORITHMS, createLimiter, type LimitConfig, type Limiter, type LimiterOptions, type Store } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { manualClock } from '@tollgate/store-test-suite';
import { build } from 'esbuild';

export { manualClock, type ManualClock, usedOf } from '@tollgate/store-test-suite';
export { eventually } from './poll.js';

/** A store that is down: every call fails, as a lost connection would. */
export const downStore: Store = {
  capabilities: { algorithms: ALL_ALGORITHMS },
  apply: () => Promise.reject(new Error('down')),
};

/** The header of the apps' test authentication: `Authorization: Bearer <user>`. */
export const auth = (user: string) => ({ authorization: `Bearer ${user}` });

/**
 * A limiter on a memory store, the two sharing one clock: `options.clock`, or a manual clock that
 * stands still unless a test moves it.
 */
export function limiterWith(limits: LimitConfig[], options: Partial<LimiterOptions> = {}): Limiter {
  const { clock = manualClock(), ...rest } = options;
  return createLimiter({ store: new MemoryStore({ clock }), limits, clock, ...rest });
}

/** A promise with its resolve function, to hand a moment from one side of a socket to the other. */
export function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * Bundles `entry` for a browser-like platform, as Next.js and Workers bundle edge code, into one
 * script that defines `globalName`: a `node:` import or a Node built-in anywhere in its graph fails
 * the build. `aliases` point package names at sources. Returns the script and the bundled inputs.
 */
export async function bundleForEdge(entry: string, aliases: Record<string, string>, globalName = 'edge'): Promise<{ script: string; inputs: string[] }> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    conditions: ['edge-light', 'worker', 'browser'],
    format: 'iife',
    globalName,
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    alias: aliases,
  });
  return { script: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) };
}

export { chatCompletion, OPENAI_ENDPOINT_LIMITS, openAiSdkCases, type ChatEndpoint } from './openai.js';
