import { fileURLToPath } from 'node:url';
import { EdgeVM } from '@edge-runtime/vm';
import { bundleForEdge } from '@tollgate/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOKEN, useBridge } from './support/bridge.js';

const http = useBridge();
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

let bundle = '';
let inputs: string[] = [];
beforeAll(async () => {
  // Bundled for a browser-like platform, as Next.js bundles edge code: a `node:` import or a Node
  // built-in anywhere in the graph of core, the store or the client fails the build.
  ({ script: bundle, inputs } = await bundleForEdge(source('./support/edge-entry.ts'), {
    '@tollgate/core': source('../../core/src/index.ts'),
    '@tollgate/redis-lua': source('../../redis-lua/src/index.ts'),
  }));
});

describe('UpstashStore on an edge runtime (@edge-runtime/vm: Web APIs only)', () => {
  it('bundles for the edge with nothing from Node in the import graph', () => {
    expect(inputs.some((input) => input.includes('core/src/limiter/limiter.ts'))).toBe(true);
    expect(inputs.some((input) => input.includes('@upstash/redis'))).toBe(true);
    expect(inputs.filter((input) => input.startsWith('node:') || input.includes('(disabled)'))).toEqual([]);
  });

  it('loads and makes real decisions through the bridge inside the VM', async () => {
    const vm = new EdgeVM();
    // The VM has what an edge function has, and not what Node has.
    expect(vm.evaluate('[typeof fetch, typeof crypto.subtle, typeof require, typeof Buffer, typeof setImmediate]')).toEqual(['function', 'object', 'undefined', 'undefined', 'undefined']);
    vm.evaluate(bundle);
    const outcomes = await vm.evaluate(`edge.decide(${JSON.stringify(http.bridge.url)}, ${JSON.stringify(TOKEN)}, 'edge${Date.now()}:', 'u', 5)`);
    expect(JSON.parse(JSON.stringify(outcomes))).toEqual([
      { allowed: true, reason: 'ok', cached: false, deniedBy: [] },
      { allowed: true, reason: 'ok', cached: false, deniedBy: [] },
      { allowed: true, reason: 'ok', cached: false, deniedBy: [] },
      { allowed: false, reason: 'limited', cached: false, deniedBy: ['rpm'] },
      { allowed: false, reason: 'limited', cached: true, deniedBy: ['rpm'] },
    ]);
  });
});
