import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A throughput harness. Every measurement runs in a fresh child process, and contenders alternate
 * round by round: no contender inherits another's heap, timers or JIT feedback, and noise on this
 * shared machine hits them alike. The report gives each one's median and its ratio to a baseline.
 */
export type Operation = (i: number) => Promise<unknown> | unknown;

export interface Contender {
  name: string;
  /** Builds the contender and returns one operation (`i` counts up, to rotate identities). */
  setup(): Operation | Promise<Operation>;
}

/** A named group of contenders measured against each other; the first is the baseline. */
export interface Suite {
  title: string;
  contenders: Contender[];
  /**
   * Callers running at once (each awaits its operation before the next); 1 runs a tight loop.
   * @default 1
   */
  concurrency?: number;
  /** Runs in the child before each contender is set up (e.g. flush the database). */
  prepare?(): Promise<void>;
  /** Counters read before and after the measurement; their growth per operation is reported. */
  counters?(): Promise<Record<string, number>>;
}

/** One contender's measurement. */
export interface Sample {
  opsPerSecond: number;
  /** Latency percentiles in ms (concurrent suites only). */
  p50?: number;
  p99?: number;
  /** Counter growth per operation. */
  perOperation?: Record<string, number>;
}

export interface Result extends Sample {
  name: string;
}

export interface CompareOptions {
  rounds?: number;
  warmupMs?: number;
  measureMs?: number;
}

/** Runs `operation` in a tight loop for about `ms`; returns operations per second. */
async function measureLoop(operation: Operation, ms: number, start: number): Promise<Sample> {
  let ops = 0;
  const began = performance.now();
  let elapsed = 0;
  // Read the time every 256 operations so timing stays out of the measurement.
  while (elapsed < ms) {
    for (let k = 0; k < 256; k++) await operation(start + ops++);
    elapsed = performance.now() - began;
  }
  return { opsPerSecond: (ops / elapsed) * 1000 };
}

/** Runs `concurrency` callers of `operation` for about `ms`; returns throughput and latencies. */
async function measureConcurrent(operation: Operation, concurrency: number, ms: number, start: number): Promise<Sample> {
  let next = start;
  let stop = false;
  const latencies: number[] = [];
  const began = performance.now();
  const callers = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const sent = performance.now();
      await operation(next++);
      latencies.push(performance.now() - sent);
    }
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  stop = true;
  await Promise.all(callers);
  const elapsed = performance.now() - began;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { opsPerSecond: (latencies.length / elapsed) * 1000, p50: at(0.5), p99: at(0.99) };
}

/** Measures one operation as the suite says: a warm-up, then the measurement. */
export async function measure(suite: Suite, operation: Operation, warmupMs: number, measureMs: number): Promise<Sample> {
  const concurrency = suite.concurrency ?? 1;
  const run = (ms: number, start: number) =>
    concurrency === 1 ? measureLoop(operation, ms, start) : measureConcurrent(operation, concurrency, ms, start);
  await run(warmupMs, 0);
  const before = await suite.counters?.();
  const sample = await run(measureMs, 1e9);
  if (before) {
    const after = (await suite.counters!())!;
    const ops = (sample.opsPerSecond * measureMs) / 1000;
    sample.perOperation = Object.fromEntries(Object.keys(after).map((key) => [key, (after[key]! - (before[key] ?? 0)) / ops]));
  }
  return sample;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function runChild(module: string, suite: string, contender: number, options: Required<CompareOptions>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const args = [module, suite, String(contender), String(options.warmupMs), String(options.measureMs)];
    const child = fork(CHILD, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as Sample) : reject(new Error(`benchmark child exited with ${code}`))));
  });
}

/** Measures every contender of `suite` (exported by `module`); the median round of each. */
export async function compare(module: string, key: string, suite: Suite, options: CompareOptions = {}): Promise<Result[]> {
  const resolved = { rounds: 5, warmupMs: 800, measureMs: 1_000, ...options };
  const samples: Sample[][] = suite.contenders.map(() => []);
  for (let round = 0; round < resolved.rounds; round++) {
    for (let index = 0; index < suite.contenders.length; index++) {
      samples[index]!.push(await runChild(module, key, index, resolved));
    }
  }
  return suite.contenders.map((contender, index) => {
    const sorted = [...samples[index]!].sort((a, b) => a.opsPerSecond - b.opsPerSecond);
    return { name: contender.name, ...sorted[Math.floor(sorted.length / 2)]! };
  });
}

const number = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A Markdown table of results, with each one's ratio to the first. */
export function table(title: string, results: Result[]): string {
  const base = results[0]!;
  const latency = results.some((r) => r.p50 !== undefined);
  const counters = [...new Set(results.flatMap((r) => Object.keys(r.perOperation ?? {})))];
  const header = ['contender', 'decisions/s', `vs ${base.name}`, ...(latency ? ['p50 ms', 'p99 ms'] : []), ...counters.map((c) => `${c} per decision`)];
  const rows = results.map((r) => [
    r.name,
    number(r.opsPerSecond),
    `${(r.opsPerSecond / base.opsPerSecond).toFixed(2)}x`,
    ...(latency ? [number(r.p50 ?? NaN, 2), number(r.p99 ?? NaN, 2)] : []),
    ...counters.map((c) => number(r.perOperation?.[c] ?? NaN, 2)),
  ]);
  return [
    `**${title}**`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** Measures every suite of a module and renders the tables. */
export async function report(module: string, suites: Record<string, Suite>, options?: CompareOptions): Promise<string> {
  const tables: string[] = [];
  for (const [key, suite] of Object.entries(suites)) tables.push(table(suite.title, await compare(module, key, suite, options)));
  return tables.join('\n\n');
}
