import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startServer, stopServer } from '@tollgate/dev-redis';

/** Starts a real redis-server for the tests (each test file puts its own bridge in front), and stops it afterwards. */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-upstash-'));
  const port = await startServer(dir);
  project.provide('redisPort', port);
  return async () => {
    await stopServer(port);
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
  }
}
