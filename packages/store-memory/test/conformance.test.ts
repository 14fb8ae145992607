import { runStoreTestSuite } from '@tollgate/store-test-suite';
import { MemoryStore } from '../src/index.js';

runStoreTestSuite({
  name: 'memory',
  createStore: (clock) => new MemoryStore({ clock }),
  createReference: (clock) => new MemoryStore({ clock }),
});
