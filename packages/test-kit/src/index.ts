/**
 * What the adapters' and stores' tests share, so each package's test support holds only what is
 * particular to its framework or store.
 */
import { ALL_ALGORITHMS, type Identity, type Limiter, type Store } from '@tollgate/core';
import { build } from 'esbuild';

export { manualClock, type ManualClock } from '@tollgate/store-test-suite';

/** A store that is down: every call fails, as a lost connection would. */
export const downStore: Store = {
  capabilities: { algorithms: ALL_ALGORITHMS },
  apply: () => Promise.reject(new Error('down')),
};

/** The header of the apps' test authentication: `Authorization: Bearer <user>`. */
export const auth = (user: string) => ({ authorization: `Bearer ${user}` });

/** Each limit's `used`, by name. */
export async function usedOf(limiter: Limiter, identity: Identity): Promise<Record<string, number>> {
  return Object.fromEntries((await limiter.usage(identity)).map((state) => [state.name, state.used]));
}

/**
 * Polls usage until `done` holds (a lease is released after the response, asynchronously), for at
 * most 5 s; returns the usage that satisfied it, or fails with the last one seen.
 */
export async function usageWhen(limiter: Limiter, identity: Identity, done: (used: Record<string, number>) => boolean): Promise<Record<string, number>> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const used = await usedOf(limiter, identity);
    if (done(used)) return used;
    if (Date.now() > deadline) throw new Error(`usage never reached the expected state: ${JSON.stringify(used)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
