/**
 * `pnpm bench gateway-soak [--minutes n] [--baseline <commit>]`: does the gateway's memory level
 * off? The real gateway (`apps/gateway/src/main.ts`, as `pnpm start` runs it, info logs included)
 * on SQLite and on a real redis-server, side by side, each driven at a steady rate for `minutes`
 * (15 by default, the issue's run) with mixed traffic over 500 API keys: JSON chats, streams read
 * to their end, streams whose client leaves after two chunks (the upstream call cancelled), and
 * requests of 50 keys whose tight limits refuse most of them (429). The upstream is
 * `fake-upstream.ts`, its streams paced (a chunk every 20 ms) so that a client can leave in the
 * middle of one.
 *
 * Every 30 s each gateway collects its garbage and reports its memory (RSS, and the heap in use
 * after a forced GC): `gateway-soak-probe.ts`, loaded with `--expose-gc` and `--import` ahead of
 * the gateway, answers SIGUSR2, so the gateway holds no bench code. The report is a table of the
 * samples and, per gateway, the growth rate over the first and the last third of the run: memory
 * that levels off grows in the first third (warm-up: code, caches, pools) and stops in the last.
 * With `--baseline <commit>`, that commit's gateway runs too (on both stores), under the same
 * traffic at the same time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startServer as startRedis, stopServer as stopRedis } from '@tollgate/dev-redis';
import { checkoutGateway } from './gateway-cpu.js';
import { gatewayFolder, gatewayYaml, startGateway, type GatewayProcess } from './gateway-process.js';
import type { ProbeSample } from './gateway-soak-probe.js';
import { forkServer, stopChild } from './server-process.js';
import { seededRandom } from '@tollgate/test-kit/random';

const FAKE_UPSTREAM = fileURLToPath(new URL('./fake-upstream.ts', import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL('./gateway-soak-probe.ts', import.meta.url))).href;

/** The issue's soak: 148 requests a second per gateway. */
const RATE = 148;
const KEYS = 500;
/** Keys (the last ones) on the tier whose limits refuse most of their requests. */
const TIGHT_KEYS = 50;
const SAMPLE_EVERY_MS = 30_000;
/** Between two events of a paced stream (13 events: about a quarter of a second per stream). */
const CHUNK_DELAY_MS = 20;
/**
 * Requests in flight per gateway beyond which the generator skips (and counts) a request instead
 * of sending it. A gateway that keeps up holds a few dozen (a stream takes a quarter of a second);
 * on a busy machine it can fall behind, and a backlog without bound would measure the queue, not
 * what the gateway keeps.
 */
const MAX_IN_FLIGHT = 64;
/**
 * The growth rates (MB a minute over the last third) under which RSS and the heap after GC count
 * as levelled off. The heap's samples scatter by about half a MB (what is in flight when the
 * signal comes), which moves a third's slope by about 0.1; a leak of 25 bytes a request at
 * 148 requests a second grows it by 0.2.
 */
const FLAT_RSS_MB_PER_MIN = 0.5;
const FLAT_HEAP_MB_PER_MIN = 0.2;
const MB = 1024 * 1024;

const config = (store: string, dataDir: string, upstream: string) => {
  const keys = Array.from({ length: KEYS }, (_, i) => `  ${keyOf(i)}: { user: ${userOf(i)} }`);
  const users = Array.from({ length: KEYS }, (_, i) => `  ${userOf(i)}: { tier: ${i >= KEYS - TIGHT_KEYS ? 'tight' : 'soak'} }`);
  return `${gatewayYaml(store, dataDir, upstream)}
tiers:
  soak:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 10000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 100000000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 1000000, reset: { every: day, timeZone: UTC } }
      - { name: inflight, scope: user, resource: concurrency, limit: 16 }
    degrade: { budget: daily-usd, steps: [{ below: 0.5, model: gpt-4o, maxTokens: 512 }, { model: gpt-4o-mini, maxTokens: 256 }] }
  tight:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 3, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 3000, window: 1m }
      - { name: inflight, scope: user, resource: concurrency, limit: 2 }
users:
${users.join('\n')}
keys:
${keys.join('\n')}
`;
};

const keyOf = (i: number) => `sk-soak-${String(i).padStart(3, '0')}`;
const userOf = (i: number) => `u${String(i).padStart(3, '0')}`;

/** What one request does; the mix, per 20 requests, is in `KINDS`. */
type Kind = 'json' | 'stream' | 'abort' | 'tight';
const KINDS: readonly Kind[] = [
  ...Array<Kind>(8).fill('json'),
  ...Array<Kind>(6).fill('stream'),
  ...Array<Kind>(3).fill('abort'),
  ...Array<Kind>(3).fill('tight'),
];

/** Counts of what the gateway answered: `200`, `429`, `aborted` (the client left mid-stream), `error`, `skipped`. */
type Outcomes = Record<string, number>;

/** Sends one request of `kind` and says how it ended. */
async function send(url: string, kind: Kind, key: string, n: number): Promise<string> {
  const stream = kind !== 'json';
  const body = JSON.stringify({
    model: 'gpt-4o',
    max_tokens: 16 + (n % 48),
    stream,
    messages: [{ role: 'user', content: `Question ${n}: what does a gateway in front of an LLM API do for its operator?${' Please explain.'.repeat(n % 7)}` }],
  });
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
    signal: controller.signal,
  });
  if (kind !== 'abort' || !response.ok || !response.body) {
    await response.arrayBuffer();
    return String(response.status);
  }
  // Two reads (a chunk or two of a paced stream), then the client goes away.
  const reader = response.body.getReader();
  await reader.read();
  await reader.read();
  controller.abort();
  await reader.cancel().catch(() => undefined);
  return 'aborted';
}

/** Drives one gateway at `RATE` requests a second until stopped. */
class Traffic {
  readonly outcomes: Outcomes = {};
  private sent = 0;
  private inFlight = 0;
  private mostInFlight = 0;
  private readonly next = seededRandom(25);
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();

  constructor(private readonly url: string) {
    this.timer = setInterval(() => this.tick(), 10);
  }

  get requests(): number {
    return this.sent;
  }

  /** The most requests in flight at once since the last call: a gateway that keeps up holds a few dozen. */
  takeMostInFlight(): number {
    const most = this.mostInFlight;
    this.mostInFlight = this.inFlight;
    return most;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.started) / 1000) * RATE);
    while (this.sent < due) {
      const n = this.sent++;
      if (this.inFlight >= MAX_IN_FLIGHT) {
        this.count('skipped');
        continue;
      }
      const kind = KINDS[n % KINDS.length]!;
      const key = kind === 'tight' ? keyOf(KEYS - TIGHT_KEYS + Math.floor(this.next() * TIGHT_KEYS)) : keyOf(Math.floor(this.next() * (KEYS - TIGHT_KEYS)));
      this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
      send(this.url, kind, key, n).then(
        (outcome) => this.count(outcome),
        () => this.count('error'),
      ).finally(() => this.inFlight--);
    }
  }

  private count(outcome: string): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
  }
}

/** One sample of one gateway: the probe's, with what /proc says of its RSS. */
interface Sample extends ProbeSample {
  /** Minutes since the traffic started. */
  readonly minute: number;
  readonly requests: number;
  /** The most requests in flight at once since the previous sample. */
  readonly inFlight: number;
  /** RSS split (Linux): anonymous memory, and file-backed pages (mapped files, such as SQLite's WAL index). */
  readonly rssAnon: number;
  readonly rssFile: number;
}

/** One soaked gateway: its process, its samples, its traffic. */
interface Soaked {
  readonly name: string;
  readonly gateway: GatewayProcess;
  readonly samplesFile: string;
  readonly samples: Sample[];
  traffic?: Traffic;
}

/** The `RssAnon` and `RssFile` of a process in bytes, from /proc (0 where there is none). */
function rssSplit(pid: number): { rssAnon: number; rssFile: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') + kb('RssShmem') };
  } catch {
    return { rssAnon: 0, rssFile: 0 };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asks the gateway for a sample (SIGUSR2 to the probe) and waits for its line. */
async function sample(soaked: Soaked, startedAt: number): Promise<void> {
  const lines = () => readFileSync(soaked.samplesFile, 'utf8').split('\n').filter(Boolean);
  const before = lines().length;
  soaked.gateway.child.kill('SIGUSR2');
  for (let waited = 0; lines().length === before; waited += 20) {
    if (waited > 30_000) throw new Error(`${soaked.name}: no memory sample 30 s after SIGUSR2`);
    await sleep(20);
  }
  const probe = JSON.parse(lines()[before]!) as ProbeSample;
  soaked.samples.push({ ...probe, ...rssSplit(soaked.gateway.child.pid!), minute: (performance.now() - startedAt) / 60_000, requests: soaked.traffic?.requests ?? 0, inFlight: soaked.traffic?.takeMostInFlight() ?? 0 });
}

/** The least-squares slope of `value` over the samples whose minute lies in [from, to], in MB a minute. */
function slope(samples: readonly Sample[], from: number, to: number, value: (sample: Sample) => number): number {
  // Samples come a little after their due time: half an interval of slack on either side.
  const slack = SAMPLE_EVERY_MS / 2 / 60_000;
  const points = samples.filter((s) => s.minute >= from - slack && s.minute <= to + slack);
  if (points.length < 2) return NaN;
  const mx = points.reduce((sum, s) => sum + s.minute, 0) / points.length;
  const my = points.reduce((sum, s) => sum + value(s), 0) / points.length;
  let num = 0;
  let den = 0;
  for (const s of points) {
    num += (s.minute - mx) * (value(s) - my);
    den += (s.minute - mx) ** 2;
  }
  return num / den / MB;
}

export interface SoakOptions {
  /** How long the traffic runs. @default 15 */
  readonly minutes?: number;
  /** A commit whose gateway is soaked too, beside the working tree's (e.g. `HEAD~1`). */
  readonly baseline?: string;
  /** The stores to soak on. @default ['sqlite', 'redis'] */
  readonly stores?: readonly StoreKind[];
}

export type StoreKind = 'sqlite' | 'redis';

/** The Markdown report: the samples of every gateway, and whether its memory levelled off. */
export async function gatewaySoakReport({ minutes = 15, baseline, stores = ['sqlite', 'redis'] }: SoakOptions = {}): Promise<string> {
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${minutes}`);
  if (stores.length === 0 || stores.some((store) => store !== 'sqlite' && store !== 'redis')) throw new Error(`--store must be sqlite or redis, got ${stores.join(', ')}`);
  const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-soak-'));
  const upstream = await forkServer(FAKE_UPSTREAM, [String(CHUNK_DELAY_MS)], undefined);
  const redisPort = await startRedis(work);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}/v1`;
  const soaked: Soaked[] = [];
  try {
    const variants = [
      ...(baseline ? [{ label: ` at ${baseline}`, dir: checkoutGateway(baseline, work) }] : []),
      { label: baseline ? ' (working tree)' : '', dir: undefined },
    ];
    for (const [v, { label, dir }] of variants.entries()) {
      // One Redis database per gateway, so that two versions side by side count apart.
      const specs = [['SQLite', 'sqlite'], ['Redis', `redis://127.0.0.1:${redisPort}/${v}`]] as const;
      for (const [name, store] of specs.filter(([, spec]) => stores.includes(spec === 'sqlite' ? 'sqlite' : 'redis'))) {
        const { config: file, dataDir } = gatewayFolder(work, `gateway-${soaked.length}`);
        writeFileSync(file, config(store, dataDir, upstreamUrl));
        const samplesFile = join(work, `samples-${soaked.length}.jsonl`);
        writeFileSync(samplesFile, '');
        const gateway = await startGateway({ config: file, cpu: undefined, dir, nodeArgs: ['--expose-gc', '--import', `${PROBE}?samples=${encodeURIComponent(samplesFile)}`] });
        soaked.push({ name: `gateway${label}, ${name}`, gateway, samplesFile, samples: [] });
      }
    }
    const startedAt = performance.now();
    for (const s of soaked) await sample(s, startedAt);
    for (const s of soaked) s.traffic = new Traffic(s.gateway.url);
    const end = startedAt + minutes * 60_000;
    for (let next = startedAt + SAMPLE_EVERY_MS; next <= end + 1; next += SAMPLE_EVERY_MS) {
      await sleep(Math.max(0, next - performance.now()));
      for (const s of soaked) await sample(s, startedAt);
      const last = soaked.map((s) => `${s.name} ${(s.samples.at(-1)!.rss / MB).toFixed(0)} MB`).join(', ');
      // Progress on stderr: the report itself is printed at the end.
      process.stderr.write(`[soak] ${soaked[0]!.samples.at(-1)!.minute.toFixed(1)} min: RSS ${last}\n`);
    }
    for (const s of soaked) s.traffic!.stop();
    return report(soaked, minutes);
  } finally {
    for (const s of soaked) {
      s.traffic?.stop();
      await stopChild(s.gateway.child);
    }
    await stopChild(upstream.child);
    await stopRedis(redisPort);
    rmSync(work, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);
const rate = (value: number) => `${value < 0 ? '−' : '+'}${Math.abs(value).toFixed(2)}`;

function report(soaked: Soaked[], minutes: number): string {
  const third = minutes / 3;
  const header = `| min | ${soaked.map((s) => `${s.name}: RSS (anon / file) MB | heap after GC (total) MB | external MB | most in flight`).join(' | ')} |`;
  const align = `| ---: | ${soaked.map(() => '---: | ---: | ---: | ---:').join(' | ')} |`;
  const rows = soaked[0]!.samples.map((_, i) => {
    const cells = soaked.map(({ samples }) => {
      const s = samples[i]!;
      return `${mb(s.rss)} (${mb(s.rssAnon)} / ${mb(s.rssFile)}) | ${mb(s.heapUsed)} (${mb(s.heapTotal)}) | ${mb(s.external)} | ${s.inFlight}`;
    });
    return `| ${soaked[0]!.samples[i]!.minute.toFixed(1)} | ${cells.join(' | ')} |`;
  });
  const verdicts = soaked.map(({ name, samples, traffic }) => {
    const rssFirst = slope(samples, 0, third, (s) => s.rss);
    const rssLast = slope(samples, minutes - third, minutes, (s) => s.rss);
    const heapFirst = slope(samples, 0, third, (s) => s.heapUsed);
    const heapLast = slope(samples, minutes - third, minutes, (s) => s.heapUsed);
    const flat = rssLast < FLAT_RSS_MB_PER_MIN && heapLast < FLAT_HEAP_MB_PER_MIN;
    const first = samples[0]!;
    const last = samples.at(-1)!;
    const outcomes = Object.entries(traffic!.outcomes).sort(([a], [b]) => a.localeCompare(b)).map(([outcome, count]) => `${count} ${outcome}`).join(', ');
    return `| ${name} | ${traffic!.requests} (${outcomes}) | ${mb(first.rss)} → ${mb(last.rss)} | ${rate(rssFirst)} | ${rate(rssLast)} | ${mb(first.heapUsed)} → ${mb(last.heapUsed)} | ${rate(heapFirst)} | ${rate(heapLast)} | ${flat ? 'levels off' : '**still growing**'} |`;
  });
  return [
    `${minutes} min of mixed traffic per gateway at ${RATE} requests/s over ${KEYS} keys (per 20 requests: ${KINDS.filter((k) => k === 'json').length} JSON chats, ${KINDS.filter((k) => k === 'stream').length} streams read to the end, ${KINDS.filter((k) => k === 'abort').length} streams left after two reads, ${KINDS.filter((k) => k === 'tight').length} requests of the ${TIGHT_KEYS} keys whose limits refuse most), every gateway at once; the upstream answers at once, streams a chunk every ${CHUNK_DELAY_MS} ms. Memory sampled every ${SAMPLE_EVERY_MS / 1000} s after a forced GC. Growth: least-squares slope over the first and the last third of the run, MB a minute; "levels off" when the last third's is under ${FLAT_RSS_MB_PER_MIN} for RSS and ${FLAT_HEAP_MB_PER_MIN} for the heap.`,
    '',
    '| gateway | requests (answers) | RSS MB | RSS MB/min, first third | last third | heap after GC MB | heap MB/min, first third | last third | verdict |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...verdicts,
    '',
    '<details><summary>Every sample</summary>',
    '',
    header,
    align,
    ...rows,
    '',
    '</details>',
  ].join('\n');
}
