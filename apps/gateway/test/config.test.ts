import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../src/config/errors.js';
import { loadConfig } from '../src/config/load.js';
import { ALIAS_BOMB, POLICY, tempDir, writeConfig } from './support.js';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const example = join(appDir, 'gateway.example.yaml');

/** The error loading `text` throws. */
function errorOf(text: string, env: Record<string, string> = {}): GatewayConfigError {
  const file = join(tempDir(), 'gateway.yaml');
  writeFileSync(file, text);
  try {
    loadConfig(file, env);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayConfigError);
    return error as GatewayConfigError;
  }
  throw new Error('the configuration was accepted');
}

/** `pnpm start --config <file>` run to its end (asynchronously, so that several run at once). */
function startMain(file: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file], { cwd: appDir, env: { ...process.env, PORT: '0' }, timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** POLICY with one line replaced. */
const policyWith = (from: string, to: string) => {
  expect(POLICY).toContain(from);
  return POLICY.replace(from, to);
};

describe('the configuration file', () => {
  it('the committed example is the demo: simulated upstream, SQLite in apps/gateway/.data, free and pro tiers', () => {
    const config = loadConfig(example, {});

    expect(config.upstreams).toEqual({ kind: 'simulated', chunkDelayMs: 25 });
    expect(config.store).toEqual({ kind: 'sqlite', path: join(appDir, '.data', 'tollgate.db') });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8787, trustProxy: false, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxBodyBytes: 4 * 1024 * 1024 });
    expect(Object.keys(config.policy.tiers)).toEqual(['free', 'pro']);
    expect(config.policy.tiers.free!.limits.map((l) => l.name)).toEqual(['rpm', 'tpm', 'daily-usd', 'inflight', 'key-rpm']);
    expect(config.policy.keys.get('sk-tollgate-demo')).toEqual({ id: 'demo-key', user: 'demo' });
    expect(config.adminToken).toBeUndefined();
  });

  it('an unknown tier fails with the file, the line, and the tiers to choose from', () => {
    const error = errorOf(policyWith('alice: { tier: free }', 'alice: { tier: gold }'));

    expect(error.line).toBe(POLICY.split('\n').findIndex((line) => line.includes('alice: { tier: free }')) + 1);
    expect(error.message).toMatch(/gateway\.yaml:\d+: users\.alice\.tier: no tier is named "gold"\n {2}Fix: use one of: free, pro — or define "gold" under tiers:/);
  });

  it('a negative limit fails at its line, with core\'s reason and how to write it', () => {
    const error = errorOf(policyWith('limit: 100, window: 1m }', 'limit: -5, window: 1m }'));

    expect(error.line).toBe(POLICY.split('\n').findIndex((line) => line.includes('name: rpm, scope: user')) + 1);
    expect(error.path).toBe('tiers.free.limits[0].limit');
    expect(error.message).toContain('limit must be a finite number of at least 0, got number -5');
    expect(error.fix).toMatch(/^set limit to a number of at least 0/);
  });

  it('malformed YAML fails at the line of the mistake', () => {
    const error = errorOf('listen:\n  port: 8787\ntiers:\n  free:\n    limits: [ { name: rpm\n');

    expect(error.line).toBeGreaterThanOrEqual(5);
    expect(error.message).toMatch(/gateway\.yaml:\d+: malformed YAML: .+\n {2}Fix: /);
  });

  it.each([
    ['a duplicate key', policyWith('bob: { tier: pro }', 'bob: { tier: pro }\n  bob: { tier: free }'), /Map keys must be unique/, /remove or rename one of the two keys/],
    ['an unknown option', `listne: { port: 1 }\n${POLICY}`, /: listne: unknown option "listne"/, /use one of: listen, store/],
    ['a key of an unknown user', policyWith('{ user: bob, name: bob-key }', '{ user: carol, name: bob-key }'), /keys\.sk-tes…-bob\.user: no user is named "carol"/, /add "carol: \{ tier: \.\.\. \}" under users:/],
    ['a ladder on a missing budget', policyWith('budget: daily-usd', 'budget: monthly-usd'), /tiers\.free\.degrade\.budget: budget must name one of the policy's limits/, /name one of the tier's requests, tokens or cost limits/],
    ['a window that is not a duration', policyWith('limit: 100000, window: 1m', 'limit: 100000, window: 5 minutes'), /tiers\.free\.limits\[1\]/, /a duration such as 30s, 1m/],
    ['an unknown store', `store: postgres://db\n${POLICY}`, /store: unknown store "postgres:\/\/db"/, /use "sqlite"/],
    ['trusting every proxy', `listen: { trustProxy: true }\n${POLICY}`, /listen\.trustProxy: expected a number of hops or a list of addresses, got boolean true/, /the number of proxies in front of the gateway/],
    ['two keys with one name', policyWith('{ user: alice, name: alice-second }', '{ user: alice, name: alice-key }'), /two keys are called "alice-key"/, /another name/],
  ])('%s fails with its line and a fix', (_what, text, problem, fix) => {
    const error = errorOf(text);

    expect(error.line).toBeGreaterThan(0);
    expect(error.message).toMatch(problem);
    expect(error.fix).toMatch(fix);
  });

  it.each([
    ['usr', 'a misspelt scope'],
    ['apikey', 'a scope in the wrong case'],
  ])('a limit on scope %s (%s) fails at its line, naming the known scopes: a typo never turns a limit off', (scope) => {
    const error = errorOf(policyWith('{ name: rpm, scope: user,', `{ name: rpm, scope: ${scope},`));

    expect(error.line).toBe(POLICY.split('\n').findIndex((line) => line.includes('name: rpm, scope: user')) + 1);
    expect(error.path).toBe('tiers.free.limits[0].scope');
    expect(error.problem).toBe(`scope "${scope}" is not a known scope (known: user, apiKey, ip, session, team, org, global)`);
    expect(error.fix).toMatch(/^key the limit on user, apiKey, ip, team, org or global/);
    expect(error.message.split('\n')).toHaveLength(2);
  });

  it('a limit on the session scope fails at its line: no gateway request has a session, so the limit would never apply', () => {
    const error = errorOf(`limits:\n  - { name: per-session, scope: session, resource: requests, limit: 5, window: 1m }\n${POLICY}`);

    expect(error.line).toBe(2);
    expect(error.path).toBe('limits[0].scope');
    expect(error.problem).toMatch(/^scope "session" never applies in the gateway: a request's identity is its user, its API key and its IP/);
    expect(error.fix).toMatch(/^key the limit on user, apiKey, ip, team, org or global/);
  });

  it('a tier whose every limit keys on a scope the gateway never sets fails, instead of refusing every request of that tier', () => {
    const error = errorOf(policyWith('      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }', '      - { name: rpm, scope: session, resource: requests, limit: 1000, window: 1m }')
      .replace(/\n {6}- \{ name: (tpm|daily-usd), scope: user, resource: (tokens|cost), limit: (1000000|10), [^\n]*/g, ''));

    expect(error.path).toBe('tiers.pro.limits[0].scope');
    expect(error.problem).toMatch(/^scope "session" never applies in the gateway/);
  });

  it('an address trustProxy cannot read fails at its line, before anything starts', () => {
    const error = errorOf(`listen: { trustProxy: [10.0.0.0/8, not-an-ip] }\n${POLICY}`);

    expect(error.line).toBe(1);
    expect(error.path).toBe('listen.trustProxy[1]');
    expect(error.problem).toBe('"not-an-ip" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal');
  });

  it.each([
    ['10.0.0.0/8'],
    ['192.168.0.0/255.255.0.0'],
    ['2001:db8::/32'],
    ['::1'],
    ['loopback'],
  ])('trustProxy accepts %s', (address) => {
    expect(loadConfig(writeConfig(POLICY, { listen: `{ host: 127.0.0.1, port: 0, trustProxy: ["${address}"] }` }), {}).listen.trustProxy).toEqual([address]);
  });

  it('YAML aliases that expand past the limit fail as a configuration error, not the parser\'s', () => {
    const error = errorOf(`${ALIAS_BOMB}${POLICY}`);

    expect(error.problem).toMatch(/^YAML aliases expand too far/);
    expect(error.fix).toMatch(/aliases/);
  });

  it('takes the store, port, upstream and admin token from the environment, and names the variable in errors', () => {
    const file = writeConfig();

    const config = loadConfig(file, { REDIS_URL: 'redis://127.0.0.1:6390', PORT: '9001', TOLLGATE_UPSTREAM_URL: 'http://127.0.0.1:1/v1/', TOLLGATE_UPSTREAM_KEY: 'sk-up', TOLLGATE_ADMIN_TOKEN: 'x'.repeat(20) });

    expect(config.store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6390' });
    expect(config.listen.port).toBe(9001);
    expect(config.upstreams).toEqual({ kind: 'http', apis: { openai: { baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'sk-up', timeoutMs: 600_000 } } });
    expect(config.adminToken).toBe('x'.repeat(20));
    expect(() => loadConfig(file, { PORT: 'eighty' })).toThrow(/environment variable PORT: expected a port from 0 to 65535, got string "eighty"\n {2}Fix: /);
  });

  it('fronts OpenAI and Anthropic at once with upstreams:, keys from the file or the environment', () => {
    const file = join(tempDir(), 'gateway.yaml');
    writeFileSync(file, `upstreams:\n  openai: { baseUrl: https://api.openai.com/v1 }\n  anthropic: { baseUrl: https://api.anthropic.com/v1/, timeoutMs: 120000 }\n${POLICY}`);

    const config = loadConfig(file, { TOLLGATE_UPSTREAM_KEY: 'sk-openai', TOLLGATE_ANTHROPIC_KEY: 'sk-ant' });

    expect(config.upstreams).toEqual({
      kind: 'http',
      apis: {
        openai: { baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-openai', timeoutMs: 600_000 },
        anthropic: { baseUrl: 'https://api.anthropic.com/v1', apiKey: 'sk-ant', timeoutMs: 120_000 },
      },
    });
    expect(loadConfig(writeConfig(), { TOLLGATE_ANTHROPIC_URL: 'http://127.0.0.1:2/v1' }).upstreams).toEqual({ kind: 'http', apis: { anthropic: { baseUrl: 'http://127.0.0.1:2/v1', apiKey: undefined, timeoutMs: 600_000 } } });
  });

  it('refuses upstream: beside upstreams.openai, and an upstream family it does not know', () => {
    const both = errorOf(`upstream: { baseUrl: https://a.example/v1 }\nupstreams:\n  openai: { baseUrl: https://b.example/v1 }\n${POLICY}`);
    const unknown = errorOf(`upstreams:\n  gemini: { baseUrl: https://c.example/v1 }\n${POLICY}`);

    expect(both.message).toMatch(/upstream: both upstream and upstreams\.openai are set/);
    expect(unknown.message).toMatch(/upstreams.*gemini/);
  });

  it('a tier\'s overToolLimit is refuse (the default) or remove', () => {
    const error = errorOf(policyWith('  pro:\n', '  pro:\n    overToolLimit: drop\n'));

    expect(error.message).toMatch(/tiers\.pro\.overToolLimit: expected refuse or remove, got string "drop"/);
    expect(loadConfig(writeConfig(policyWith('  pro:\n', '  pro:\n    overToolLimit: remove\n')), {}).policy.overToolLimit).toEqual({ free: 'refuse', pro: 'remove' });
  });

  it('a missing file says how to point at one', () => {
    expect(() => loadConfig(join(tempDir(), 'nope.yaml'), {})).toThrow(/nope\.yaml: the configuration file does not exist\n {2}Fix: pass an existing file with --config/);
  });
});

describe('pnpm start with a bad configuration', () => {
  it.each([
    ['YAML aliases that expand too far', ALIAS_BOMB + POLICY, /YAML aliases expand too far/],
    ['an address trustProxy cannot read', `listen: { trustProxy: [not-an-ip] }\n${POLICY}`, /listen\.trustProxy\[0\]: "not-an-ip" is not an IP address/],
    ['a misspelt scope', policyWith('{ name: rpm, scope: user,', '{ name: rpm, scope: usr,'), /tiers\.free\.limits\[0\]\.scope: scope "usr" is not a known scope \(known: user, apiKey, ip, session, team, org, global\)\n/],
  ])('%s: exits with status 1 and one error with its fix, no stack trace', async (_what, text, problem) => {
    const file = join(tempDir(), 'gateway.yaml');
    writeFileSync(file, text);

    const run = await startMain(file);

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(problem);
    expect(run.stderr).toMatch(/^\[tollgate\] \[gateway\] [^\n]*\n {2}Fix: [^\n]*\n$/);
    expect(run.stdout).toBe('');
  });

  it('exits with status 1 and prints the line and the fix, without starting', () => {
    const file = join(tempDir(), 'gateway.yaml');
    writeFileSync(file, policyWith('limit: 100, window: 1m }', 'limit: -1, window: 1m }'));

    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file], { cwd: appDir, encoding: 'utf8', timeout: 30_000 });

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^\[tollgate\] \[gateway\] .*gateway\.yaml:\d+: tiers\.free\.limits\[0\]\.limit: limit must be a finite number of at least 0, got number -1\n {2}Fix: set limit to/);
    expect(run.stdout).not.toContain('OpenAI base URL');
  });
});
