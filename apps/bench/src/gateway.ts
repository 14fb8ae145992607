/**
 * `pnpm bench gateway`: hostile load on the real gateway (`apps/gateway/src/main.ts`, as `pnpm
 * start` runs it, on SQLite with its simulated upstream, loopback only). 8 clients send ordinary
 * chats while 8 others send 1 MB prompts without a space (letters, then Chinese); the ordinary
 * chats' latency and `/health/live`'s are compared with the same run without the hostile clients.
 * The hostile user's budget is far below a megabyte of prompt, so every hostile request is counted
 * and refused: the gateway's cost is the body, the estimate and the decision, as for an attacker
 * holding a valid key. Bounded: a few seconds per phase, three phases.
 *
 * Processes: the gateway on the first CPU, the load generators (each its own process) on the last
 * (`taskset`, where it works), so a generator's work never delays the gateway; the hostile ones at
 * the lowest priority, so theirs never delays the measured clients.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadKind, LoadOptions, LoadResult } from './gateway-load.js';
import { canPin, GATEWAY_DIR, gatewayFolder, node, startGateway, stopChild } from './gateway-process.js';
const LOAD = fileURLToPath(new URL('./gateway-load.ts', import.meta.url));
const CLIENTS = 8;
const WARMUP_MS = 1_500;
/** Each phase runs this long per round; rounds alternate the phases, so drift on a shared machine falls on all alike. */
const PHASE_MS = 2_000;
const ROUNDS = 3;

const CONFIG = `
listen: { host: 127.0.0.1, port: 0 }
demo: { chunkDelayMs: 0 }
logLevel: warn
tiers:
  ordinary:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 10000000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 1000000000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 1000000, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 64 }
  hostile:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 10000000, window: 1m }
      - { name: tpm, scope: user, resource: tokens, limit: 100000, window: 1m }
users:
  ordinary: { tier: ordinary }
  hostile: { tier: hostile }
keys:
  sk-bench-ordinary: { user: ordinary }
  sk-bench-hostile: { user: hostile }
`;

/**
 * Runs one load generator to its end. Hostile generators run in the background: the measured
 * clients share their CPU, and an attacker's own work would otherwise show in their latency, where
 * a real attacker's runs on other machines.
 */
function load(options: LoadOptions, cpu: string | undefined): Promise<LoadResult> {
  const child = node([LOAD, JSON.stringify(options)], cpu, GATEWAY_DIR, [], options.kind !== 'ordinary');
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as LoadResult) : reject(new Error(`a ${options.kind} load generator exited with ${code}`))));
  });
}

const percentile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const ms = (value: number) => value.toFixed(1);

interface Phase {
  readonly name: string;
  readonly hostile: Exclude<LoadKind, 'ordinary'> | undefined;
}

const PHASES: Phase[] = [
  { name: 'none', hostile: undefined },
  { name: `${CLIENTS} × 1 MB of letters, no space`, hostile: 'letters' },
  { name: `${CLIENTS} × 1 MB of Chinese (333k characters)`, hostile: 'cjk' },
];

const signed = (value: number) => `${value < 0 ? '−' : '+'}${ms(Math.abs(value))}`;

/** What one phase saw over every round. */
interface Seen {
  chats: number[];
  health: number[];
  statuses: Record<string, number>;
}

/** Runs one phase for one round, adding what it saw to `seen`. */
async function runPhase(url: string, phase: Phase, cpu: string | undefined, seen: Seen): Promise<void> {
  const [measured, hostile] = await Promise.all([
    load({ url, key: 'sk-bench-ordinary', kind: 'ordinary', clients: CLIENTS, durationMs: PHASE_MS }, cpu),
    phase.hostile ? load({ url, key: 'sk-bench-hostile', kind: phase.hostile, clients: CLIENTS, durationMs: PHASE_MS }, cpu) : undefined,
  ]);
  seen.chats.push(...measured.chats);
  seen.health.push(...measured.health);
  for (const [status, count] of Object.entries(hostile?.statuses ?? {})) seen.statuses[status] = (seen.statuses[status] ?? 0) + count;
}

/** A Markdown table: per phase, the ordinary chats' latency and `/health/live`'s, and what the hostile clients got. */
export async function gatewayReport(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-gateway-'));
  const { config, dataDir } = gatewayFolder(dir, 'gateway');
  writeFileSync(config, `dataDir: ${dataDir}\n${CONFIG}`);
  const pinned = canPin();
  const [gatewayCpu, loadCpu] = pinned ? ['0', String(availableParallelism() - 1)] : [undefined, undefined];
  const gateway = await startGateway({ config, cpu: gatewayCpu });
  const { url } = gateway;
  try {
    await load({ url, key: 'sk-bench-ordinary', kind: 'ordinary', clients: CLIENTS, durationMs: WARMUP_MS }, loadCpu);
    const seen = PHASES.map((): Seen => ({ chats: [], health: [], statuses: {} }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [index, phase] of PHASES.entries()) await runPhase(url, phase, loadCpu, seen[index]!);
    }
    const baseline = percentile(seen[0]!.chats, 0.99);
    const rows = PHASES.map((phase, index) => {
      const { chats, health, statuses } = seen[index]!;
      const p99 = percentile(chats, 0.99);
      const answers = phase.hostile ? Object.entries(statuses).map(([status, count]) => `${count} × ${status}`).join(', ') : '—';
      return `| ${phase.name} | ${chats.length} | ${ms(percentile(chats, 0.5))} | ${ms(p99)} | ${phase.hostile ? signed(p99 - baseline) : '—'} | ${ms(percentile(health, 0.99))} | ${answers} |`;
    });
    return [
      `${CLIENTS} clients send ordinary chats (JSON, 16 output tokens), with \`/health/live\` probed every 10 ms, for ${ROUNDS} rounds of ${PHASE_MS / 1000} s per row (the rows alternate); the hostile user's budget refuses every hostile request (429) once it is counted.${pinned ? ' Gateway on CPU 0, load generators on the last CPU (the hostile ones at the lowest priority).' : ''}`,
      '',
      '| hostile clients | ordinary chats | p50 ms | p99 ms | p99 vs none | /health/live p99 ms | hostile answers |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
    ].join('\n');
  } finally {
    await stopChild(gateway.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
