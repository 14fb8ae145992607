/**
 * A small throughput harness: contenders run in interleaved rounds in one process, so machine noise
 * hits them alike, and the report gives each one's median against a named baseline.
 */
export interface Contender {
  name: string;
  /** One operation; `i` counts up, so contenders can rotate identities. */
  run(i: number): Promise<unknown> | unknown;
}

export interface Result {
  name: string;
  opsPerSecond: number;
}

export interface CompareOptions {
  rounds?: number;
  msPerRound?: number;
  warmupMs?: number;
}

async function runFor(contender: Contender, ms: number, start: number): Promise<{ ops: number; elapsed: number }> {
  let ops = 0;
  const began = performance.now();
  let elapsed = 0;
  // Check the time every 256 operations so timing costs stay out of the measurement.
  while (elapsed < ms) {
    for (let k = 0; k < 256; k++) await contender.run(start + ops++);
    elapsed = performance.now() - began;
  }
  return { ops, elapsed };
}

/** Runs every contender in interleaved rounds and returns the median ops/s of each. */
export async function compare(contenders: Contender[], options: CompareOptions = {}): Promise<Result[]> {
  const { rounds = 7, msPerRound = 400, warmupMs = 500 } = options;
  const counters = contenders.map(() => 0);
  for (const [index, contender] of contenders.entries()) counters[index]! += (await runFor(contender, warmupMs, 0)).ops;
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [index, contender] of contenders.entries()) {
      const { ops, elapsed } = await runFor(contender, msPerRound, counters[index]!);
      counters[index]! += ops;
      samples[index]!.push((ops / elapsed) * 1000);
    }
  }
  return contenders.map((contender, index) => ({ name: contender.name, opsPerSecond: median(samples[index]!) }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A Markdown table of results, with each one's ratio to `baseline`. */
export function table(title: string, results: Result[], baseline: string): string {
  const base = results.find((r) => r.name === baseline)!.opsPerSecond;
  const lines = [
    `**${title}**`,
    '',
    '| contender | decisions/s | vs ' + baseline + ' |',
    '| --- | ---: | ---: |',
    ...results.map((r) => `| ${r.name} | ${Math.round(r.opsPerSecond).toLocaleString('en-US')} | ${(r.opsPerSecond / base).toFixed(2)}x |`),
  ];
  return lines.join('\n');
}
