/**
 * `pnpm bench [memory|sqlite|redis|http|llm|budget|gateway|gateway-cpu|gateway-hold|gateway-soak] [--rounds n] [--baseline <commit|checkout>] [--profile] [--seconds n] [--minutes n] [--store sqlite|redis]`: benchmarks with their peers in the same run (alternating fresh
 * processes); prints Markdown tables with ratios (absolute numbers on shared machines are noisy,
 * ratios less so). Starts its own redis-server on a free loopback port for the Redis suites.
 * `budget` is no throughput measure: it prints what the gateway's budget charged against what a
 * misbehaving upstream billed; `gateway` puts hostile clients (1 MB prompts without a space) beside
 * ordinary ones and prints what they cost the ordinary ones' latency, then compares the gateway's
 * CPU per request with a bare proxy's (`gateway-cpu` runs only that: `--rounds` of it, beside the
 * gateway of `--baseline <commit>` if given, or of another checkout's folder on its own built packages,
 * and with `--profile`, where the gateway's CPU goes),
 * then runs each contender for a minute and prints whether its throughput holds to the end
 * (`gateway-hold` runs only that, `--seconds` long), then soaks it for 15 minutes of mixed traffic
 * on SQLite and Redis and says whether its memory levels off (`gateway-soak` runs only that:
 * `--minutes n` of it, on one `--store` if given, beside the gateway of `--baseline <commit>` if given).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { budgetReport } from './budget.js';
import { gatewayReport } from './gateway.js';
import { gatewayCpuReport, gatewayHoldReport } from './gateway-cpu.js';
import { gatewaySoakReport, type StoreKind } from './gateway-soak.js';
import { report } from './harness.js';
import { httpReport } from './http.js';
import { llmReport } from './llm.js';
import * as memory from './memory.js';
import * as redis from './redis.js';
import * as sqlite from './sqlite.js';
import { redisMemoryPerIdentity } from './redis-memory.js';

const { values: flags, positionals } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  allowPositionals: true,
  options: { rounds: { type: 'string' }, baseline: { type: 'string' }, profile: { type: 'boolean' }, seconds: { type: 'string' }, minutes: { type: 'string' }, store: { type: 'string' } },
});
const only = positionals[0];
console.log(`Node ${process.version}, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 10)}\n`);

if (!only || only === 'memory') console.log(`## Memory store\n\n${await report(memory.module, memory.suites)}\n`);

if (!only || only === 'sqlite') console.log(`## SQLite store\n\n${await report(sqlite.module, sqlite.suites)}\n`);

if (!only || only === 'redis') {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const port = await startServer(dir);
  process.env.BENCH_REDIS_PORT = String(port);
  try {
    console.log(`## Redis store (redis-server 7.0, loopback)\n\n${await report(redis.module, redis.suites, { rounds: 3, warmupMs: 1_000, measureMs: 2_000 })}\n`);
    const memory = [await redisMemoryPerIdentity(port, 200, 1), await redisMemoryPerIdentity(port, 200, 10)];
    console.log(
      `Memory per user identity, the brief's five-limit policy (MEMORY USAGE): ${memory[0]} bytes after 1 request, ${memory[1]} bytes after 10.\n`,
    );
  } finally {
    await stopServer(port);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!only || only === 'http') console.log(`## Framework adapters (autocannon, loopback)\n\n${await httpReport()}\n`);

if (!only || only === 'llm') console.log(`## LLM request estimation (@tollgate/llm)\n\n${await llmReport()}\n`);

if (!only || only === 'budget') {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-budget-'));
  const port = await startServer(dir);
  try {
    console.log(`## Hard budgets: the gateway in front of a misbehaving upstream, $1 a day\n`);
    console.log(`### SQLite\n\n${await budgetReport({ kind: 'sqlite' })}\n`);
    console.log(`### Redis (redis-server 7.0, loopback)\n\n${await budgetReport({ kind: 'redis', url: `redis://127.0.0.1:${port}` })}\n`);
  } finally {
    await stopServer(port);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!only || only === 'gateway') console.log(`## The gateway under hostile load (loopback)\n\n${await gatewayReport()}\n`);

if (!only || only === 'gateway' || only === 'gateway-cpu') {
  const cpu = await gatewayCpuReport({ rounds: flags.rounds === undefined ? undefined : Number(flags.rounds), baseline: flags.baseline, profile: flags.profile });
  console.log(`## The gateway's CPU per request beside a bare proxy (loopback, an upstream that answers at once)\n\n${cpu}\n`);
}

if (!only || only === 'gateway' || only === 'gateway-hold') {
  const held = await gatewayHoldReport({ seconds: flags.seconds === undefined ? undefined : Number(flags.seconds) });
  console.log(`## The gateway over a long run: does its throughput hold? (loopback, an upstream that answers at once)\n\n${held}\n`);
}

if (!only || only === 'gateway' || only === 'gateway-soak') {
  const minutes = flags.minutes === undefined ? 15 : Number(flags.minutes);
  // Said before it starts: the default run takes a quarter of an hour.
  console.error(`The gateway's memory soak runs ${minutes} min (--minutes n to change it; pnpm bench gateway-soak runs only the soak).`);
  const stores = flags.store === undefined ? undefined : ([flags.store] as StoreKind[]);
  const soak = await gatewaySoakReport({ minutes, stores, baseline: only === 'gateway-soak' ? flags.baseline : undefined });
  console.log(`## The gateway's memory under a ${minutes}-minute soak (loopback, SQLite and Redis)\n\n${soak}\n`);
}
