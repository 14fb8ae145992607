import { fileURLToPath } from 'node:url';
import { EdgeVM } from '@edge-runtime/vm';
import { bundleForEdge } from '@tollgate/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

let bundle = '';
let inputs: string[] = [];
beforeAll(async () => {
  // Bundled for a browser-like platform, as Next.js bundles edge code: a `node:` import or a Node
  // built-in anywhere in the graph of the adapter, core or the store fails the build.
  ({ script: bundle, inputs } = await bundleForEdge(source('./edge/entry.ts'), {
    '@tollgate/core': source('../../core/src/index.ts'),
    '@tollgate/store-memory': source('../../store-memory/src/index.ts'),
  }));
});

describe('withTollgate and tollgateProxy on an edge runtime (@edge-runtime/vm: Web APIs only)', () => {
  it('bundles for the edge with nothing from Node, nor from next, in the import graph', () => {
    expect(inputs).toEqual(expect.arrayContaining(['src/index.ts', 'src/route.ts', 'src/proxy.ts', '../core/src/limiter/limiter.ts', '../store-memory/src/index.ts']));
    expect(inputs.filter((input) => input.startsWith('node:') || input.includes('(disabled)') || input.includes('node_modules'))).toEqual([]);
  });

  it('makes real decisions inside the VM: the proxy refuses over its limit, a streamed route holds and frees its slot', async () => {
    const vm = new EdgeVM();
    // The VM has what an edge function has, and not what Node has.
    expect(vm.evaluate('[typeof fetch, typeof Response, typeof ReadableStream, typeof require, typeof Buffer, typeof process]')).toEqual([
      'function',
      'function',
      'function',
      'undefined',
      'undefined',
      'undefined',
    ]);
    vm.evaluate(bundle);

    const outcome = JSON.parse(JSON.stringify(await vm.evaluate('edge.run()')));

    expect(outcome).toEqual({
      proxied: ['next', 'next', { status: 429, limit: 'proxy-rpm' }],
      route: {
        status: 200,
        ratelimit: expect.stringMatching(/^"rpm";r=1;t=60, "inflight";r=0;t=\d+$/),
        first: 'data: 0\n\n',
        heldWhileStreaming: 1,
        whileStreaming: { status: 429, limit: 'inflight' },
        afterCancel: 0,
        text: 'data: 0\n\ndata: 1\n\ndata: 2\n\n',
        afterEnd: 0,
        overLimit: { status: 429, limit: 'rpm' },
      },
    });
  });
});
