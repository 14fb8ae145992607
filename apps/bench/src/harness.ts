import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A throughput harness. Every measurement runs in a fresh child process, and contenders alternate
 * round by round: no contender inherits another's heap, timers or JIT feedback, and noise on this
 * shared machine hits them alike. The report gives each one's median and its ratio to a baseline.
 */
export interface Contender {
  name: string;
  /** Builds the contender; the returned function runs one operation (`i` counts up). */
  setup(): ((i: number) => Promise<unknown> | unknown) | Promise<(i: number) => Promise<unknown> | unknown>;
}

/** A named group of contenders measured against each other; the first is the baseline. */
export interface Suite {
  title: string;
  contenders: Contender[];
}

export interface Result {
  name: string;
  opsPerSecond: number;
}

export interface CompareOptions {
  rounds?: number;
  warmupMs?: number;
  measureMs?: number;
}

/** Runs `operation` for about `ms` and returns operations per second. */
export async function measure(operation: (i: number) => unknown, ms: number, start = 0): Promise<number> {
  let ops = 0;
  const began = performance.now();
  let elapsed = 0;
  // Read the time every 256 operations so timing stays out of the measurement.
  while (elapsed < ms) {
    for (let k = 0; k < 256; k++) await operation(start + ops++);
    elapsed = performance.now() - began;
  }
  return (ops / elapsed) * 1000;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function runChild(module: string, suite: string, contender: number, options: Required<CompareOptions>): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [module, suite, String(contender), String(options.warmupMs), String(options.measureMs)];
    const child = fork(CHILD, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Number(output.trim())) : reject(new Error(`benchmark child exited with ${code}`))));
  });
}

/** Measures every contender of `suite` (exported by `module`) and returns the median ops/s of each. */
export async function compare(module: string, suite: string, contenders: string[], options: CompareOptions = {}): Promise<Result[]> {
  const resolved = { rounds: 5, warmupMs: 800, measureMs: 1_000, ...options };
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < resolved.rounds; round++) {
    for (let index = 0; index < contenders.length; index++) {
      samples[index]!.push(await runChild(module, suite, index, resolved));
    }
  }
  return contenders.map((name, index) => ({ name, opsPerSecond: median(samples[index]!) }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A Markdown table of results, with each one's ratio to the first. */
export function table(title: string, results: Result[]): string {
  const base = results[0]!;
  return [
    `**${title}**`,
    '',
    `| contender | decisions/s | vs ${base.name} |`,
    '| --- | ---: | ---: |',
    ...results.map((r) => `| ${r.name} | ${Math.round(r.opsPerSecond).toLocaleString('en-US')} | ${(r.opsPerSecond / base.opsPerSecond).toFixed(2)}x |`),
  ].join('\n');
}

/** Measures every suite of a module and renders the tables. */
export async function report(module: string, suites: Record<string, Suite>, options?: CompareOptions): Promise<string> {
  const tables: string[] = [];
  for (const [key, suite] of Object.entries(suites)) {
    const results = await compare(module, key, suite.contenders.map((c) => c.name), options);
    tables.push(table(suite.title, results));
  }
  return tables.join('\n\n');
}
