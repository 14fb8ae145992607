import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALIAS_BOMB, client, eventually, gatewayWith, HELLO, logLines, POLICY, usedOf, writeConfig } from './support.js';

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
    const served = (await usedOf(gateway.policy.limiter, { user: 'alice' })).rpm!;
    expect(served).toBeGreaterThanOrEqual(2);

    // A broken file is reported and changes nothing (applied at once here, as the watcher would); fixed, it applies.
    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: gold }'));
    gateway.reload();
    expect(await tierOfNext()).toBe('pro');
    writeFileSync(file, original);
    expect(await eventually(tierOfNext, (tier) => tier === 'free')).toBe('free');
  });

  it('keeps the previous configuration, and logs the file and the error, whatever a reload fails on', async () => {
    const file = writeConfig(POLICY, { logLevel: 'error' });
    const original = readFileSync(file, 'utf8');
    const log = logLines();
    // An environment that fails when read stands for any failure nobody foresaw.
    let envFails = false;
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: () => {
        if (envFails) throw new Error('the environment could not be read');
        return undefined;
      },
    });
    const gateway = await gatewayWith(file, { env, logStream: log.stream, watch: false });
    const openai = client(gateway, 'sk-test-alice');
    const tierOfNext = async () => (await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }).withResponse()).response.headers.get('x-tollgate-tier');

    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: pro }').replace('logLevel: error', `logLevel: error\n${ALIAS_BOMB}`));
    expect(() => gateway.reload()).not.toThrow();
    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: pro }').replace('scope: user, resource: requests, limit: 100,', 'scope: usr, resource: requests, limit: 100,'));
    expect(() => gateway.reload()).not.toThrow();
    writeFileSync(file, original.replace('alice: { tier: free }', 'alice: { tier: pro }'));
    envFails = true;
    expect(() => gateway.reload()).not.toThrow();

    expect(await tierOfNext()).toBe('free');
    const errors = log.lines.filter((line) => line.level === 50);
    expect(errors).toHaveLength(3);
    expect(errors.every((line) => line.file === file && String(line.msg).includes('the previous configuration stays in force'))).toBe(true);
    expect(errors[0]!.problem).toMatch(/YAML aliases expand too far/);
    expect(errors[1]!.problem).toMatch(/tiers\.free\.limits\[0\]\.scope: scope "usr" is not a known scope/);
    expect(errors[2]!.err).toMatchObject({ message: 'the environment could not be read' });
  });
});
