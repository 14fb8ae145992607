import { MemoryStore } from '@tollgate/store-memory';
import { runStoreTestSuite } from '@tollgate/store-test-suite';
import { UpstashStore } from '../src/index.js';
import { useBridge } from './support/bridge.js';

const http = useBridge();

// The deny cache is off here: the suite holds the store to the reference's exact decisions and
// limit states, and a replayed refusal reports the states as they were (see deny-cache.test.ts).
for (const enableAutoPipelining of [true, false]) {
  runStoreTestSuite({
    name: `upstash over HTTP (auto-pipelining ${enableAutoPipelining ? 'on' : 'off'})`,
    createStore: (clock) => new UpstashStore({ client: http.client({ enableAutoPipelining }), clock, denyCache: false }),
    createReference: (clock) => new MemoryStore({ clock }),
  });
}
