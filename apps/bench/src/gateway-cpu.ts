/**
 * `pnpm bench gateway`, CPU suite: what a chat completion costs the gateway's process, beside a
 * bare proxy doing the least any proxy must (`bare-proxy.ts`), both in front of the same upstream
 * that answers at once (`fake-upstream.ts`). The gateway runs as `pnpm start` runs it, with its
 * defaults (info logs included, drained by the bench), an example-style tier (rpm, tpm, daily USD,
 * in flight, a degradation ladder) plus a global and a per-IP rpm: every limit checked on every
 * request, all far above the load. On SQLite (a fresh file per process) and on a real redis-server.
 *
 * Each contender runs in a fresh process per round on the server CPU, warmed up with every load
 * shape, then measured on JSON and a 10-chunk stream at 1 and 32 clients (autocannon in this
 * process, on the load CPU with the upstream and Redis);
 * contenders alternate round by round, and the median round counts. The CPU per request is the
 * server process's user and system time from /proc over the measured seconds.
 */
import { execFileSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer as startRedis, stopServer as stopRedis } from '@tollgate/dev-redis';
import autocannon from 'autocannon';
import { cpuTime, pinned, placementText } from './cpu.js';
import { monotonicMicros, profileSplit, type Window } from './cpu-profile.js';
import { STREAM_CHUNKS } from './fake-answers.js';
import { GATEWAY_DIR, gatewayFolder, gatewayYaml, startGateway } from './gateway-process.js';
import { forkServer, stopChild } from './server-process.js';

const FAKE_UPSTREAM = fileURLToPath(new URL('./fake-upstream.ts', import.meta.url));
const BARE_PROXY = fileURLToPath(new URL('./bare-proxy.ts', import.meta.url));
const KEY = 'sk-bench-cpu';
const WARMUP_SECONDS = 1;
/**
 * Seconds of each phase's load a fresh process gets before anything is measured: the gateway's
 * CPU per request falls by half over its first ten seconds or so, while V8 optimises its code on
 * other threads (which /proc counts), and a gateway in front of agents runs for days.
 */
const PROCESS_WARMUP_SECONDS_PER_PHASE = 3;
const MEASURE_SECONDS = 2;

const policy = (store: string, dataDir: string, upstream: string) => `${gatewayYaml(store, dataDir, upstream)}
tiers:
  bench:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 1000000000000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 1000000, reset: { every: day, timeZone: UTC } }
      - { name: inflight, scope: user, resource: concurrency, limit: 64 }
    degrade: { budget: daily-usd, steps: [{ below: 0.5, model: gpt-4o, maxTokens: 512 }, { model: gpt-4o-mini, maxTokens: 256 }] }
users:
  bench: { tier: bench }
keys:
  ${KEY}: { user: bench }
`;

/** One shape of load. */
interface Phase {
  readonly stream: boolean;
  readonly clients: number;
}

const PHASES: Phase[] = [
  { stream: false, clients: 1 },
  { stream: false, clients: 32 },
  { stream: true, clients: 1 },
  { stream: true, clients: 32 },
];

const phaseName = ({ stream }: Phase) => (stream ? `${STREAM_CHUNKS}-chunk stream` : 'JSON');

const body = (stream: boolean) =>
  JSON.stringify({ model: 'gpt-4o', max_tokens: 16, stream, messages: [{ role: 'user', content: 'What does a gateway in front of an LLM API do for its operator?' }] });

interface Sample {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Answers that were not 2xx, and transport errors. */
  failures: number;
  /** The server's CPU ms per request; NaN off Linux. */
  cpuMs: number;
}

/** A running server under test: its pid (for /proc) and base URL. */
interface Running {
  readonly pid: number;
  readonly url: string;
  stop(): Promise<void>;
}

interface Contender {
  readonly name: string;
  start(cpu: string | undefined, nodeArgs?: string[]): Promise<Running>;
}

/** Loads `url` for `seconds`; `onSecond` hears how many answers came in each second. */
function load(url: string, phase: Phase, seconds: number, onSecond?: (answers: number) => void): Promise<autocannon.Result> {
  const instance = autocannon({
    url: `${url}/v1/chat/completions`,
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: body(phase.stream),
    connections: phase.clients,
    duration: seconds,
  });
  // Without a callback autocannon returns its running instance, an event emitter that is also a promise of the result (its types show only the promise).
  if (onSecond) (instance as unknown as EventEmitter).on('tick', ({ counter }: { counter: number }) => onSecond(counter));
  return instance;
}

/** Runs every phase's load on a fresh process, so that what is measured next is its steady state. */
async function warmUp(server: Running): Promise<void> {
  for (const phase of PHASES) await load(server.url, phase, PROCESS_WARMUP_SECONDS_PER_PHASE);
}

/** Measures one phase on a running server, after a warm-up; the window is when it measured, for a profile. */
async function measure(server: Running, phase: Phase): Promise<Sample & { window: Window; requests: number }> {
  await load(server.url, phase, WARMUP_SECONDS);
  const before = cpuTime(server.pid);
  const from = monotonicMicros();
  const result = await load(server.url, phase, MEASURE_SECONDS);
  const window = { from, to: monotonicMicros() };
  return { ...sampleOf(result, server.pid, before), window, requests: result.requests.total };
}

/** What a run of autocannon saw, and the server's CPU per request since `cpuBefore`. */
function sampleOf(result: autocannon.Result, pid: number, cpuBefore: number): Sample {
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors,
    cpuMs: (cpuTime(pid) - cpuBefore) / 1000 / result.requests.total,
  };
}

/**
 * The gateway source of another commit (`git archive`), runnable beside this one: its `src` and
 * `package.json` in a temporary folder whose `node_modules` is this app's, so both run on the same
 * built packages in the same run. Given the folder of another checkout (a worktree of another
 * commit, installed and built), its own gateway on its own packages: to compare a change to a
 * package, not only to the gateway.
 */
export function checkoutGateway(revision: string, into: string): string {
  const other = resolve(revision, 'apps/gateway');
  if (existsSync(join(other, 'src/main.ts'))) return other;
  const dir = join(into, `gateway-${revision.replace(/[^\w.-]/g, '_')}`);
  mkdirSync(dir, { recursive: true });
  const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: GATEWAY_DIR, encoding: 'utf8' }).trim();
  const archive = execFileSync('git', ['archive', revision, 'apps/gateway/src', 'apps/gateway/package.json'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  execFileSync('tar', ['-x', '--strip-components=2', '-C', dir], { input: archive });
  symlinkSync(join(GATEWAY_DIR, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

function gatewayContender(name: string, work: string, store: () => string, upstream: string, dir?: string): Contender {
  let started = 0;
  return {
    name,
    async start(cpu, nodeArgs) {
      const { config, dataDir } = gatewayFolder(work, `${name.replace(/\W+/g, '-')}-${started++}`);
      writeFileSync(config, policy(store(), dataDir, upstream));
      const gateway = await startGateway({ config, cpu, dir, nodeArgs });
      return { pid: gateway.child.pid!, url: gateway.url, stop: () => stopChild(gateway.child) };
    },
  };
}

const median = (samples: Sample[], by: (sample: Sample) => number) => [...samples].sort((a, b) => by(a) - by(b))[Math.floor(samples.length / 2)]!;

export interface CpuSuiteOptions {
  /** Rounds per contender (the median counts). @default 3 */
  readonly rounds?: number;
  /**
   * A commit whose gateway runs too, as "before" beside the working tree's (e.g. `HEAD`), or the
   * folder of another checkout, whose gateway then runs on that checkout's built packages.
   */
  readonly baseline?: string;
  /** Also profile the gateway on SQLite (`--cpu-prof`) and print where its CPU went. */
  readonly profile?: boolean;
}

/** The contenders of one run, and where their processes go. */
interface Bench {
  readonly contenders: Contender[];
  readonly placement: Parameters<Parameters<typeof pinned>[0]>[0];
  readonly work: string;
}

/**
 * Runs `suite` with the contenders (the bare proxy first, then the gateway on SQLite and on Redis,
 * after `baseline`'s gateway if given) in front of one fake upstream and one redis-server, pinned
 * where the machine allows, and stops them all after.
 */
function withContenders<T>(baseline: string | undefined, suite: (bench: Bench) => Promise<T>): Promise<T> {
  return pinned(async (placement) => {
    const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-cpu-'));
    // Unpinned children inherit this process's CPU: the upstream and redis-server share the load CPU.
    const upstream = await forkServer(FAKE_UPSTREAM, [], undefined);
    const redisPort = await startRedis(work);
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const upstreamUrl = `http://127.0.0.1:${upstream.port}/v1`;
    const flushRedis = () => {
      execFileSync('redis-cli', ['-p', String(redisPort), 'flushall'], { stdio: 'ignore' });
      return redisUrl;
    };
    try {
      const gateways = (label: string, dir?: string) => [
        gatewayContender(`gateway${label}, SQLite`, work, () => 'sqlite', upstreamUrl, dir),
        gatewayContender(`gateway${label}, Redis`, work, flushRedis, upstreamUrl, dir),
      ];
      const contenders: Contender[] = [
        {
          name: 'bare proxy',
          async start(cpu) {
            const server = await forkServer(BARE_PROXY, [upstreamUrl], cpu);
            return { pid: server.child.pid!, url: `http://127.0.0.1:${server.port}`, stop: () => stopChild(server.child) };
          },
        },
        ...(baseline ? gateways(` at ${baseline}`, checkoutGateway(baseline, work)) : []),
        ...gateways(baseline ? ' (working tree)' : ''),
      ];
      return await suite({ contenders, placement, work });
    } finally {
      await stopChild(upstream.child);
      await stopRedis(redisPort);
      rmSync(work, { recursive: true, force: true });
    }
  });
}

/** The Markdown report: per contender and phase, req/s, latency, CPU ms per request and its ratio to the bare proxy. */
export function gatewayCpuReport({ rounds = 3, baseline, profile = false }: CpuSuiteOptions = {}): Promise<string> {
  return withContenders(baseline, async ({ contenders, placement, work }) => {
    const samples = contenders.map(() => PHASES.map((): Sample[] => []));
    for (let round = 0; round < rounds; round++) {
      for (const [c, contender] of contenders.entries()) {
        const server = await contender.start(placement?.server);
        try {
          await warmUp(server);
          for (const [p, phase] of PHASES.entries()) samples[c]![p]!.push(await measure(server, phase));
        } finally {
          await server.stop();
        }
      }
    }
    const sections = [cpuTable(contenders, samples, rounds, placementText(placement))];
    if (profile) sections.push(await profiled(contenders[contenders.length - 2]!, work, placement?.server));
    return sections.join('\n\n');
  });
}

/** Seconds at the start and at the end of a long run whose throughputs are compared. */
const HOLD_EDGE_SECONDS = 10;

/** One long run: its figures over the whole run, and its throughput at the end against the start. */
interface Held extends Sample {
  /** Requests answered in the last `HOLD_EDGE_SECONDS` over those in the first. */
  readonly hold: number;
}

/** Loads a running server for `seconds` (after a warm-up), counting the answers of every second. */
async function measureHeld(server: Running, phase: Phase, seconds: number): Promise<Held> {
  await load(server.url, phase, WARMUP_SECONDS);
  const before = cpuTime(server.pid);
  const perSecond: number[] = [];
  const result = await load(server.url, phase, seconds, (counter) => perSecond.push(counter));
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  // autocannon ticks once more as it stops, with what came after the last whole second (close to
  // nothing): that tick is no second of the run, and counted as one it took a tenth off the hold.
  const whole = perSecond.slice(0, seconds);
  return { ...sampleOf(result, server.pid, before), hold: sum(whole.slice(-HOLD_EDGE_SECONDS)) / sum(whole.slice(0, HOLD_EDGE_SECONDS)) };
}

/**
 * The throughput-hold report: every contender and phase once, for `seconds` each (a fresh process
 * per run, contenders alternating within each phase): req/s, latency, CPU ms per request, and the
 * last ten seconds' throughput against the first ten's. The gateways' policy has a global exact
 * log (a sliding log of 1,000,000 requests a minute), whose length grows with the run.
 */
export function gatewayHoldReport({ seconds = 60 }: { readonly seconds?: number } = {}): Promise<string> {
  return withContenders(undefined, async ({ contenders, placement }) => {
    const rows: string[] = [];
    for (const phase of PHASES) {
      let floor = NaN;
      for (const [c, contender] of contenders.entries()) {
        const server = await contender.start(placement?.server);
        let held: Held;
        try {
          await warmUp(server);
          held = await measureHeld(server, phase, seconds);
        } finally {
          await server.stop();
        }
        if (c === 0) floor = held.cpuMs;
        rows.push(
          `| ${phaseName(phase)} | ${phase.clients} | ${contender.name}${held.failures > 0 ? ` (${held.failures} failed)` : ''} | ${Math.round(held.requestsPerSecond).toLocaleString('en-US')} | ${held.p50} | ${held.p99} | ${held.cpuMs.toFixed(3)} | ${c === 0 ? '1.00x' : `${(held.cpuMs / floor).toFixed(2)}x`} | ${(100 * held.hold).toFixed(0)}% |`,
        );
      }
    }
    return [
      `One run of ${seconds} s per row, a fresh process per run warmed up with ${PROCESS_WARMUP_SECONDS_PER_PHASE} s of every phase's load and then ${WARMUP_SECONDS} s of its own, contenders alternating within each phase; ${placementText(placement)}. Hold: the requests answered in the last ${HOLD_EDGE_SECONDS} s over those in the first ${HOLD_EDGE_SECONDS} s.`,
      '',
      '| answer | clients | contender | req/s | p50 ms | p99 ms | server CPU ms/request | CPU vs bare proxy | hold |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n');
  });
}

function cpuTable(contenders: Contender[], samples: Sample[][][], rounds: number, placement: string): string {
  const floor = PHASES.map((_, p) => median(samples[0]![p]!, (s) => s.cpuMs).cpuMs);
  const rows: string[] = [];
  for (const [p, phase] of PHASES.entries()) {
    for (const [c, contender] of contenders.entries()) {
      const runs = samples[c]![p]!;
      const { requestsPerSecond, p50, p99 } = median(runs, (s) => s.requestsPerSecond);
      const { cpuMs } = median(runs, (s) => s.cpuMs);
      const failures = runs.reduce((sum, s) => sum + s.failures, 0);
      const spread = runs.map((s) => s.cpuMs.toFixed(2)).join(', ');
      rows.push(
        `| ${phaseName(phase)} | ${phase.clients} | ${contender.name}${failures > 0 ? ` (${failures} failed)` : ''} | ${Math.round(requestsPerSecond).toLocaleString('en-US')} | ${p50} | ${p99} | ${cpuMs.toFixed(3)} (${spread}) | ${c === 0 ? '1.00x' : `${(cpuMs / floor[p]!).toFixed(2)}x`} |`,
      );
    }
  }
  return [
    `Median of ${rounds} rounds of ${MEASURE_SECONDS} s per row (after ${WARMUP_SECONDS} s of warm-up), a fresh process per contender and round warmed up first with ${PROCESS_WARMUP_SECONDS_PER_PHASE} s of every phase's load, contenders alternating; ${placement}. CPU: the server process's user + system time per request (every round's in brackets).`,
    '',
    '| answer | clients | contender | req/s | p50 ms | p99 ms | server CPU ms/request (rounds) | CPU vs bare proxy |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** Runs the contender once more under `--cpu-prof`, and prints where its CPU went per phase at 32 clients. */
async function profiled(contender: Contender, work: string, cpu: string | undefined): Promise<string> {
  const dir = join(work, 'profile');
  const server = await contender.start(cpu, ['--cpu-prof', '--cpu-prof-dir', dir]);
  const measured: Array<{ phase: Phase; window: Window; requests: number }> = [];
  try {
    await warmUp(server);
    for (const phase of PHASES.filter((p) => p.clients > 1)) measured.push({ phase, ...(await measure(server, phase)) });
  } finally {
    await server.stop();
  }
  // The main thread's profile (thread 0), not the body worker's.
  const file = join(dir, readdirSync(dir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name))!);
  return measured.map(({ phase, window, requests }) => `**Where the CPU of ${contender.name} goes: ${phaseName(phase)}, ${phase.clients} clients (\`--cpu-prof\`, self time)**\n\n${profileSplit(file, window, requests)}`).join('\n\n');
}
