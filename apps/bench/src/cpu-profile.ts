/**
 * Where a process's CPU went, from a V8 CPU profile (`node --cpu-prof`): self time by module
 * (a package, a gateway source file, Node's internals, the garbage collector) and by function.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The module a function belongs to, for people. */
export function moduleOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/\.pnpm\/(@[^+/]+\+[^@/]+|[^@/]+)@/.exec(url)?.[1];
  if (pkg) return pkg.replace('+', '/');
  const tollgate = /\/packages\/([^/]+)\//.exec(url)?.[1];
  if (tollgate) return `@tollgate/${tollgate}`;
  const app = /\/apps\/gateway\/src\/(.+)$/.exec(url)?.[1] ?? /\/src\/((?:proxy|http|config|dashboard|simulated)\/.+|[^/]+\.ts)$/.exec(url)?.[1];
  if (app) return `gateway ${app}`;
  if (url.startsWith('node:internal/deps/undici')) return 'node: undici (fetch)';
  if (url.startsWith('node:internal/webstreams')) return 'node: web streams';
  if (url.startsWith('node:')) return `node: ${url.slice(5).replace(/^internal\//, '').split('/')[0]}`;
  return url;
}

/** A stretch of time on the monotonic clock V8 stamps its samples with (`process.hrtime`), in µs. */
export interface Window {
  readonly from: number;
  readonly to: number;
}

/** The monotonic clock now, in µs, comparable with a profile's sample times. */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

/** Self time (ms) per node id, of the samples taken within `window`. */
function selfTimes(profile: Profile, window: Window): Map<number, number> {
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at >= window.from && at <= window.to) self.set(id, (self.get(id) ?? 0) + delta / 1000);
  });
  return self;
}

const table = (title: string, rows: Array<[string, number]>, total: number, top: number) =>
  [
    `| ${title} | self ms | share |`,
    '| --- | ---: | ---: |',
    ...rows
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => `| ${name.replace(/\|/g, '\\|')} | ${ms.toFixed(0)} | ${((100 * ms) / total).toFixed(1)}% |`),
  ].join('\n');

/**
 * Markdown tables of where the profile's busy time within `window` went (idle left out), by module
 * and by function; `requests` (those served within the window) turns the total into a cost per request.
 */
export function profileSplit(file: string, window: Window, requests: number, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of selfTimes(profile, window)) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    total += ms;
    const module = moduleOf(url, functionName);
    modules.set(module, (modules.get(module) ?? 0) + ms);
    const name = `${functionName || '(anonymous)'} (${module}${url ? `:${lineNumber + 1}` : ''})`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
  }
  return [
    `Busy ${total.toFixed(0)} ms over ${requests} requests: ${(total / requests).toFixed(3)} ms per request (the profiler's own overhead included).`,
    '',
    table('module', [...modules], total, top),
    '',
    table('function', [...functions], total, top),
  ].join('\n');
}
