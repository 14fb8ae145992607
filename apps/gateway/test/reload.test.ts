import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { client, eventually, gatewayWith, HELLO, usedOf, writeConfig } from './support.js';

describe('editing the configuration file while the gateway runs', () => {
  it('applies a tier change without a restart, keeps the counters, and ignores a broken edit until it is fixed', async () => {
    const file = writeConfig();
    const gateway = await gatewayWith(file);
    const openai = client(gateway, 'sk-test-alice');
    const tierOfNext = async () => (await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).withResponse()).response.headers.get('x-tollgate-tier');
    expect(await tierOfNext()).toBe('free');
    const original = readFileSync(file, 'utf8');

    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: pro }'));
    expect(await eventually(tierOfNext, (tier) => tier === 'pro')).toBe('pro');
    // The same counters under the new tier: every request so far counts against pro's rpm.
    const served = (await usedOf(gateway, { user: 'alice' })).rpm!;
    expect(served).toBeGreaterThanOrEqual(2);

    // A broken file is reported and changes nothing (applied at once here, as the watcher would); fixed, it applies.
    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: gold }'));
    gateway.reload();
    expect(await tierOfNext()).toBe('pro');
    writeFileSync(file, original);
    expect(await eventually(tierOfNext, (tier) => tier === 'free')).toBe('free');
  });
});
