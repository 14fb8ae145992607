/**
 * One load generator against a running gateway, in its own process so that its work never runs
 * on the measured clients' event loop: `gateway-load.ts <JSON of LoadOptions>`. Runs its clients
 * for `durationMs`, then prints what it saw as JSON (a `LoadResult`).
 */

/** What a load generator does: measure ordinary chats and `/health/live`, or send hostile bodies. */
export type LoadKind = 'ordinary' | 'letters' | 'cjk';

export interface LoadOptions {
  readonly url: string;
  readonly key: string;
  readonly kind: LoadKind;
  readonly clients: number;
  readonly durationMs: number;
}

export interface LoadResult {
  /** Each ordinary chat's latency, ms (ordinary only). */
  readonly chats: number[];
  /** Each `/health/live` latency, ms (ordinary only). */
  readonly health: number[];
  /** Hostile requests' answers: status → count. */
  readonly statuses: Record<string, number>;
}

/** A megabyte of prompt in one piece: letters without a space, or Chinese (3 bytes a character in UTF-8). */
const HOSTILE_BYTES = 1_000_000;
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const CJK = '东京的天气今天晴朗明天可能下雨我们在网关前面限制每个用户的预算和请求';
/** Time between two health probes: a load balancer probes far less often; this samples the event loop. */
const HEALTH_INTERVAL_MS = 10;

function hostileText(kind: Exclude<LoadKind, 'ordinary'>): string {
  const alphabet = kind === 'letters' ? LETTERS : CJK;
  const count = kind === 'letters' ? HOSTILE_BYTES : HOSTILE_BYTES / 3;
  let text = '';
  while (text.length < count) text += alphabet;
  return text.slice(0, count);
}

const ordinaryBody = (i: number) =>
  JSON.stringify({ model: 'gpt-4o', max_tokens: 16, messages: [{ role: 'user', content: `Question ${i}: what does a gateway in front of an LLM API do for its operator?` }] });

async function run({ url, key, kind, clients, durationMs }: LoadOptions): Promise<LoadResult> {
  const deadline = performance.now() + durationMs;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const chats: number[] = [];
  const health: number[] = [];
  const statuses: Record<string, number> = {};
  // Encoded once: the generator's own work per request stays small beside the gateway's.
  const hostile = kind === 'ordinary' ? undefined : new TextEncoder().encode(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: hostileText(kind) }] }));
  let sent = 0;

  const client = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: hostile ?? ordinaryBody(sent++) });
      await response.arrayBuffer();
      if (hostile) statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      else if (response.ok) chats.push(performance.now() - started);
      else throw new Error(`an ordinary chat got ${response.status}: ${await response.text()}`);
    }
  };
  const prober = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      await (await fetch(`${url}/health/live`)).arrayBuffer();
      health.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, HEALTH_INTERVAL_MS));
    }
  };
  await Promise.all([...Array.from({ length: clients }, client), ...(kind === 'ordinary' ? [prober()] : [])]);
  return { chats, health, statuses };
}

if (process.argv[2]) {
  process.stdout.write(JSON.stringify(await run(JSON.parse(process.argv[2]) as LoadOptions)));
  process.exit(0);
}
