/**
 * The adapters' overhead: requests per second and p99 of a hello route, bare and behind each
 * limiter, measured by autocannon on loopback. Each server runs in a fresh child process (the load
 * generator keeps this process's core); contenders alternate round by round, and the median round
 * counts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));
/** API keys the requests rotate through, so limiters track many callers as in production. */
const KEYS = 1_000;

interface Sample {
  requestsPerSecond: number;
  p99: number;
  non2xx: number;
}

async function startServer(framework: string, contender: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(SERVER, [framework, contender], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${framework} ${contender} server exited with ${code}`)));
  });
  return { child, port };
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

async function measure(framework: string, contender: string): Promise<Sample> {
  const { child, port } = await startServer(framework, contender);
  try {
    await load(port, 2); // warm-up: JIT, connections, the limiter's first callers
    const result = await load(port, 5);
    return { requestsPerSecond: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx };
  } finally {
    child.kill();
  }
}

/** Runs every contender of one framework for `rounds` alternating rounds; the median of each. */
async function compare(framework: string, contenders: string[], rounds: number): Promise<Array<Sample & { name: string }>> {
  const samples = contenders.map(() => [] as Sample[]);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) samples[i]!.push(await measure(framework, contenders[i]!));
  }
  return contenders.map((name, i) => {
    const sorted = [...samples[i]!].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    return { name, ...sorted[Math.floor(sorted.length / 2)]! };
  });
}

const LABELS: Record<string, string> = {
  bare: 'bare (no limiter)',
  // What any middleware costs in this framework: the floor under every limiter's overhead.
  noop: 'floor: an empty middleware / hook',
  'express-rate-limit': 'express-rate-limit (memory)',
  '@fastify/rate-limit': '@fastify/rate-limit (memory)',
  tollgate: 'Tollgate (memory, exact sliding log)',
  'tollgate-window': 'Tollgate (memory, sliding-window counter)',
};

/** The Markdown report of both frameworks. */
export async function httpReport(rounds = 3): Promise<string> {
  const tables: string[] = [];
  for (const [framework, peer] of [['express', 'express-rate-limit'], ['fastify', '@fastify/rate-limit']] as const) {
    const results = await compare(framework, ['bare', 'noop', peer, 'tollgate', 'tollgate-window'], rounds);
    const bare = results[0]!;
    const peerResult = results[2]!;
    const rows = results.map((r) => {
      const failures = r.non2xx > 0 ? ` (${r.non2xx} non-2xx)` : '';
      return `| ${LABELS[r.name]}${failures} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')} | ${(r.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}x | ${(r.requestsPerSecond / peerResult.requestsPerSecond).toFixed(2)}x | ${r.p99} |`;
    });
    tables.push(
      [
        `**${framework}: GET /hello, 50 connections, one request limit per API key (1,000 keys)**`,
        '',
        `| contender | requests/s | vs bare | vs ${peer} | p99 ms |`,
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows,
      ].join('\n'),
    );
  }
  return tables.join('\n\n');
}
