/**
 * Real redis-server processes for tests and benchmarks: on loopback, on free ports, without
 * persistence, each in a directory of the caller's, stopped by the caller.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A free loopback port, found by letting the OS pick one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a redis-server on loopback (a free port unless given), in `dir`, with no persistence and
 * debug commands allowed from loopback (the fault tests hang it with DEBUG SLEEP).
 */
export async function startServer(dir: string, extra: string[] = [], port?: number): Promise<number> {
  port ??= await freePort();
  execFileSync('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--enable-debug-command', 'local', '--pidfile', join(dir, `redis-${port}.pid`), '--logfile', join(dir, `redis-${port}.log`), ...extra,
  ]);
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
      return port;
    } catch (error) {
      if (attempt > 100) throw error;
      await sleep(50);
    }
  }
}

/** Stops a server and waits until it no longer answers. */
export async function stopServer(port: number): Promise<void> {
  try {
    execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'pipe' });
  } catch {
    // already gone
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
      await sleep(20);
    } catch {
      return;
    }
  }
}

/** Starts a 3-master Redis Cluster on loopback and waits until it serves every slot. */
export async function startCluster(dir: string): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    ports.push(await startServer(dir, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`]));
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'pipe',
  });
  for (let attempt = 0; ; attempt++) {
    const states = ports.map((p) => execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }));
    if (states.every((info) => info.includes('cluster_state:ok'))) return ports;
    if (attempt > 200) throw new Error(`the test cluster did not come up:\n${states.join('\n')}`);
    await sleep(50);
  }
}

