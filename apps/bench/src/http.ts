/**
 * The adapters' overhead: requests per second and p99 of a hello route, bare and behind each
 * limiter, measured by autocannon on loopback, and the server's CPU time per request. Each server
 * runs in a fresh child process (the load generator stays in this one); contenders alternate round
 * by round, and the median round counts. Bare runs twice: the second copy is a control, whose
 * distance from the first is the noise of this measurement on this machine.
 *
 * On Linux the server gets CPU 0 and the load generator the last CPU (see `cpu.ts`).
 */
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { cpuTime, pinned, placementText } from './cpu.js';
import { forkServer } from './server-process.js';

const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));
/** API keys the requests rotate through, so limiters track many callers as in production. */
const KEYS = 1_000;

interface Sample {
  requestsPerSecond: number;
  p99: number;
  non2xx: number;
  /** The server process's CPU time (user and system, every thread) per request; NaN off Linux. */
  cpuMicros: number;
}

function load(port: number, seconds: number): Promise<autocannon.Result> {
  let n = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}/hello`,
    connections: 50,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'x-api-key': `key-${n++ % KEYS}` } }) }],
  });
}

async function measure(framework: string, contender: string, cpu: string | undefined): Promise<Sample> {
  const { child, port } = await forkServer(SERVER, [framework, contender], cpu);
  try {
    await load(port, 2); // warm-up: JIT, connections, the limiter's first callers
    const before = cpuTime(child.pid!);
    const result = await load(port, 3);
    const cpuMicros = (cpuTime(child.pid!) - before) / result.requests.total;
    return { requestsPerSecond: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx, cpuMicros };
  } finally {
    child.kill();
  }
}

/** Marks the control: the same server as the contender it names, measured as another contender. */
const CONTROL = '#control';

/** The sample in the middle when ordered by `by`. */
const median = (samples: Sample[], by: (sample: Sample) => number) => [...samples].sort((a, b) => by(a) - by(b))[Math.floor(samples.length / 2)]!;

/**
 * Runs every contender of one framework for `rounds` alternating rounds: the median round (by
 * throughput) of each, with the median CPU time per request of its rounds.
 */
async function compare(framework: string, contenders: string[], rounds: number, cpu: string | undefined): Promise<Array<Sample & { name: string }>> {
  const samples = contenders.map(() => [] as Sample[]);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) samples[i]!.push(await measure(framework, contenders[i]!.replace(CONTROL, ''), cpu));
  }
  return contenders.map((name, i) => {
    const { cpuMicros } = median(samples[i]!, (sample) => sample.cpuMicros);
    return { name, ...median(samples[i]!, (sample) => sample.requestsPerSecond), cpuMicros };
  });
}

const LABELS: Record<string, string> = {
  bare: 'bare (no limiter)',
  [`bare${CONTROL}`]: 'bare again (control: the noise of this measurement)',
  // What any middleware costs in this framework: the floor under every limiter's overhead.
  noop: 'floor: an empty middleware / hook',
  'express-rate-limit': 'express-rate-limit (memory)',
  '@fastify/rate-limit': '@fastify/rate-limit (memory)',
  tollgate: 'Tollgate (memory, exact sliding log)',
  'tollgate-window': 'Tollgate (memory, sliding-window counter)',
};

/** CPU µs per request, with the difference from bare (what the middleware adds to each request). */
function cpuCell(result: Sample, bare: Sample): string {
  if (Number.isNaN(result.cpuMicros)) return 'n/a';
  if (result === bare) return result.cpuMicros.toFixed(1);
  const added = result.cpuMicros - bare.cpuMicros;
  return `${result.cpuMicros.toFixed(1)} (${added < 0 ? '−' : '+'}${Math.abs(added).toFixed(1)})`;
}

/** The Markdown report of both frameworks. */
export function httpReport(rounds = 7): Promise<string> {
  return pinned(async (cpus) => {
    const cpu = cpus?.server;
    const placement = placementText(cpus);
    const tables: string[] = [];
    for (const [framework, peer] of [['express', 'express-rate-limit'], ['fastify', '@fastify/rate-limit']] as const) {
      const results = await compare(framework, ['bare', `bare${CONTROL}`, 'noop', peer, 'tollgate', 'tollgate-window'], rounds, cpu);
      const bare = results[0]!;
      const peerResult = results[3]!;
      const rows = results.map((r) => {
        const failures = r.non2xx > 0 ? ` (${r.non2xx} non-2xx)` : '';
        return `| ${LABELS[r.name]}${failures} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')} | ${(r.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}x | ${(r.requestsPerSecond / peerResult.requestsPerSecond).toFixed(2)}x | ${r.p99} | ${cpuCell(r, bare)} |`;
      });
      tables.push(
        [
          `**${framework}: GET /hello, 50 connections, one request limit per API key (1,000 keys), median of ${rounds} rounds, ${placement}**`,
          '',
          `| contender | requests/s | vs bare | vs ${peer} | p99 ms | server CPU µs/request |`,
          '| --- | ---: | ---: | ---: | ---: | ---: |',
          ...rows,
        ].join('\n'),
      );
    }
    return tables.join('\n\n');
  });
}
