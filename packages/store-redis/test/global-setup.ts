import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startCluster, startServer, stopServer } from '@tollgate/dev-redis';

/** Starts a real redis-server and a real 3-master cluster for the tests, and stops them afterwards. */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));
  const port = await startServer(dir);
  const clusterPorts = await startCluster(dir);
  project.provide('redisPort', port);
  project.provide('clusterPorts', clusterPorts);
  return async () => {
    for (const p of [port, ...clusterPorts]) await stopServer(p);
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
    clusterPorts: number[];
  }
}
