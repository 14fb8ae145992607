/**
 * The real gateway (`apps/gateway/src/main.ts`, as `pnpm start` runs it) in a child process for
 * the gateway suites, and the load generators beside it, each placed on a CPU with `taskset`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
export { stopChild } from './server-process.js';

/** The gateway app, whose `src/main.ts` is started. */
export const GATEWAY_DIR = fileURLToPath(new URL('../../gateway/', import.meta.url));

/** Environment variables that would override the bench's configuration file. */
const OVERRIDES = ['PORT', 'HOST', 'REDIS_URL', 'LOG_LEVEL', 'TOLLGATE_STORE', 'TOLLGATE_DATA_DIR', 'TOLLGATE_UPSTREAM_URL', 'TOLLGATE_UPSTREAM_KEY', 'TOLLGATE_CONFIG'];

/** Whether `taskset` can pin processes here (Linux with two CPUs or more). */
export function canPin(): boolean {
  if (process.platform !== 'linux' || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `node --import tsx [nodeArgs] <args>` on `cpu` (through taskset, which execs node in place), or
 * anywhere (tsx first, so that a module `nodeArgs` imports may be TypeScript); `background` runs
 * it at the lowest priority (`nice -n 19`), so that it takes only the CPU time that others on its
 * CPU leave.
 */
export function node(args: string[], cpu: string | undefined, cwd: string, nodeArgs: string[] = [], background = false): ChildProcess {
  const command = [process.execPath, '--import', 'tsx', ...nodeArgs, ...args];
  const pinned = cpu === undefined ? command : ['taskset', '--cpu-list', cpu, ...command];
  const [file, ...rest] = background && process.platform !== 'win32' ? ['nice', '-n', '19', ...pinned] : pinned;
  const env = { ...process.env };
  for (const name of OVERRIDES) delete env[name];
  return spawn(file!, rest, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** `http://host:port`, the OpenAI base URL being `${url}/v1`. */
  readonly url: string;
}

export interface GatewayLaunch {
  /** The configuration file. */
  readonly config: string;
  readonly cpu: string | undefined;
  /** The app folder whose `src/main.ts` runs (another commit's copy, for a baseline). @default GATEWAY_DIR */
  readonly dir?: string;
  /** Flags for node itself (`--cpu-prof`; `--import <module>`, loaded before the gateway). */
  readonly nodeArgs?: string[];
}

/** Starts the gateway and resolves with its base URL, read from the banner it prints. */
export function startGateway({ config, cpu, dir = GATEWAY_DIR, nodeArgs }: GatewayLaunch): Promise<GatewayProcess> {
  const child = node(['src/main.ts', '--config', config], cpu, dir, nodeArgs);
  return new Promise((resolve, reject) => {
    let output = '';
    let started = false;
    // Read to the end: the gateway's log lines must not fill the pipe.
    child.stdout!.on('data', (chunk: Buffer) => {
      if (started) return;
      output += chunk;
      const url = /OpenAI base URL\s+(http:\/\/\S+)\/v1/.exec(output)?.[1];
      if (url) {
        started = true;
        resolve({ child, url });
      }
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}:\n${output}`)));
  });
}

/**
 * Where one bench gateway keeps its files, laid out as `pnpm start` has them: `gateway.yaml` beside
 * its `data` folder, not in it. The gateway watches its file's folder for edits, and a store
 * writing in that folder would wake the watch on every decision.
 */
export function gatewayFolder(parent: string, name: string): { config: string; dataDir: string } {
  const folder = join(parent, name);
  const dataDir = join(folder, 'data');
  mkdirSync(dataDir, { recursive: true });
  return { config: join(folder, 'gateway.yaml'), dataDir };
}

/**
 * The start of a bench gateway's configuration: where it listens (a free loopback port), counts and
 * forwards, and the limits every tier has, a global exact log and a per-IP one, far above any load.
 */
export function gatewayYaml(store: string, dataDir: string, upstream: string): string {
  return `
listen: { host: 127.0.0.1, port: 0 }
store: ${JSON.stringify(store)}
dataDir: ${JSON.stringify(dataDir)}
upstream: { baseUrl: ${JSON.stringify(upstream)} }
limits:
  - { name: global-rpm, scope: global, resource: requests, limit: 1000000, window: 1m }
  - { name: ip-rpm, scope: ip, resource: requests, limit: 1000000, window: 1m }
`;
}
