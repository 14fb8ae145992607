import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '@tollgate/store-memory';
import { runStoreTestSuite } from '@tollgate/store-test-suite';
import { afterAll } from 'vitest';
import { SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

runStoreTestSuite({
  name: 'sqlite',
  createStore: (clock) => new SqliteStore({ database: join(dir, `suite-${++files}.db`), clock }),
  closeStore: (store) => store.close(),
  createReference: (clock) => new MemoryStore({ clock }),
});
