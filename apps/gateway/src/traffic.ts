/**
 * `pnpm --filter tollgate-gateway traffic`: sends a burst of chat requests through a running
 * gateway, one at a time, and prints what happened to each (model sent, output cap, budget used,
 * or the refusal), so the limits, the budget and the degradation ladder can be watched at work,
 * here and on the dashboard. Bounded: `--count` requests (default 60), then it stops.
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8787/v1' },
    key: { type: 'string', default: 'sk-tollgate-demo' },
    model: { type: 'string', default: 'gpt-4o' },
    count: { type: 'string', default: '60' },
  },
});
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new Error('--count must be a whole number from 1 to 10000');

for (let i = 1; i <= count; i++) {
  const response = await fetch(`${values.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${values.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: values.model, messages: [{ role: 'user', content: `Question number ${i}: what does a gateway do?` }] }),
  });
  const body = (await response.json()) as { usage?: { total_tokens: number }; error?: { message: string } };
  const header = (name: string) => response.headers.get(name);
  if (response.ok) {
    const used = Number(header('x-tollgate-budget-used') ?? NaN);
    const budget = Number.isNaN(used) ? '' : `, budget ${(used * 100).toFixed(0)}% used before it`;
    const degraded = header('x-tollgate-degraded') === 'true' ? ` (degraded, step ${header('x-tollgate-degrade-step')})` : '';
    console.log(`#${i} 200 ${header('x-tollgate-model')} max ${header('x-tollgate-max-tokens') ?? '-'}${degraded}: ${body.usage?.total_tokens ?? '?'} tokens${budget}`);
  } else {
    console.log(`#${i} ${response.status} ${body.error?.message ?? response.statusText}`);
  }
}
