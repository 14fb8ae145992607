/**
 * The packages as users get them: every public package is packed with `pnpm pack`, and the
 * tarballs (not the workspace) are installed with plain npm into fresh projects outside the
 * repository, which then run an ESM app, a CommonJS app and an edge-style app against real
 * servers, LangChain and AI SDK apps against a loopback provider, type-check a TypeScript app with
 * `moduleResolution` node16 and bundler, and compile and run the READMEs' examples as written.
 * Across the projects every store and every adapter is used.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { startBridge, type Bridge } from '@tollgate/upstash-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tollgate-packaging-'));
const tarballs = join(work, 'tarballs');

/** The versions the workspace builds and tests with, so the projects install what we test against. */
const THIRD_PARTY = {
  express: '^5.1.0',
  fastify: '^5.4.0',
  ioredis: '^5.9.2',
  '@upstash/redis': '^1.35.0',
  'better-sqlite3': '^12.4.1',
  next: '^16.0.0',
  react: '^19.1.0',
  'react-dom': '^19.1.0',
  openai: '^6.0.0',
  ai: '^7.0.185',
  '@ai-sdk/openai': '^4.0.126',
  '@langchain/openai': '^1.6.0',
  '@langchain/core': '^1.4.0',
};

/** What a TypeScript project installs to type-check the packages and the examples. */
const TYPESCRIPT = { typescript: '~5.9.3', '@types/node': '^20.19.0', '@types/express': '^5.0.3' };

/** Packs every public package of packages/; returns `{ name: tarball path }`. */
async function packAll(): Promise<Record<string, string>> {
  const packed: Record<string, string> = {};
  for (const dir of readdirSync(join(repo, 'packages'))) {
    const manifest = JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8')) as { name: string; private?: boolean };
    if (manifest.private) continue;
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(repo, 'packages', dir) });
    const tarball = stdout.trim().split('\n').pop()!;
    packed[manifest.name] = tarball.startsWith('/') ? tarball : join(tarballs, tarball);
  }
  return packed;
}

/** A fresh npm project holding one fixture, with the tarballs and third-party packages it needs. */
async function project(fixture: string, packed: Record<string, string>, tollgate: string[], thirdParty: string[], dev: Record<string, string> = {}): Promise<string> {
  const dir = join(work, fixture);
  cpSync(join(fixtures, fixture), dir, { recursive: true });
  const dependencies: Record<string, string> = {};
  for (const name of tollgate) dependencies[name] = `file:${packed[name]}`;
  for (const name of thirdParty) dependencies[name] = THIRD_PARTY[name as keyof typeof THIRD_PARTY];
  const manifest = { name: `tollgate-${fixture}`, private: true, type: 'module', dependencies, devDependencies: dev };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  return dir;
}

/** What each fixture app prints: the statuses of three requests, and what the limiter counted. */
interface AppOutput {
  statuses: number[];
  usage?: Array<[string, number]>;
  reserved?: number;
  /** What the metered openai client saw: the answer, then the refusal's class and status, then the provider's call count. */
  metered?: Array<string | number>;
}

async function runApp<Output = AppOutput>(dir: string, file: string, env: Record<string, string> = {}): Promise<Output> {
  const { stdout } = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Output;
}

/**
 * The first TypeScript example after `heading` in one of the repository's Markdown files, exactly
 * as a reader copies it.
 */
function exampleAfter(file: string, heading: string): string {
  const markdown = readFileSync(join(repo, file), 'utf8');
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`${file} has no heading "${heading}"`);
  const block = /^```ts\n([\s\S]*?)^```$/m.exec(markdown.slice(at));
  if (!block) throw new Error(`${file} has no TypeScript example after "${heading}"`);
  return block[1]!;
}

let packed: Record<string, string> = {};
let redisPort = 0;
let bridge: Bridge | undefined;

beforeAll(async () => {
  packed = await packAll();
  // The loopback provider the model-calling fixtures import as `../shared/provider.mjs`.
  cpSync(join(fixtures, 'shared'), join(work, 'shared'), { recursive: true });
  redisPort = await startServer(work);
  bridge = await startBridge({ redis: { port: redisPort }, token: 'packaging-token' });
});

afterAll(async () => {
  await bridge?.close();
  if (redisPort) await stopServer(redisPort);
  rmSync(work, { recursive: true, force: true });
});

describe('installed from the packed tarballs with npm', () => {
  it('packs every public package', () => {
    expect(Object.keys(packed).sort()).toEqual([
      '@tollgate/adapter-express',
      '@tollgate/adapter-fastify',
      '@tollgate/adapter-next',
      '@tollgate/core',
      '@tollgate/llm',
      '@tollgate/store-memory',
      '@tollgate/store-redis',
      '@tollgate/store-sqlite',
      '@tollgate/store-test-suite',
      '@tollgate/store-upstash',
    ]);
  });

  it('ships the MIT license in every tarball, as every manifest says', async () => {
    for (const [name, tarball] of Object.entries(packed)) {
      const { stdout } = await run('tar', ['-xzOf', tarball, 'package/LICENSE']);
      expect(stdout, name).toMatch(/^MIT License\n/);
    }
  });

  it('an ESM app: Express over Redis, priced by @tollgate/llm', async () => {
    const dir = await project('esm-express-redis', packed, ['@tollgate/core', '@tollgate/store-redis', '@tollgate/adapter-express', '@tollgate/llm'], ['express', 'ioredis']);
    const { statuses, usage } = await runApp(dir, 'app.mjs', { REDIS_PORT: String(redisPort) });
    expect(statuses).toEqual([200, 200, 429]);
    // Two admitted requests, each settled at 100 input and 50 output gpt-4o tokens.
    expect(usage).toEqual([['rpm', 2], ['daily-usd', 2 * (100 * 2.5 + 50 * 10) / 1e6]]);
  });

  it('an ESM app: the openai SDK over meteredFetch gets a RateLimitError, and Express limits by address without identify', async () => {
    const dir = await project('esm-openai-express', packed, ['@tollgate/core', '@tollgate/store-memory', '@tollgate/adapter-express', '@tollgate/llm'], ['express', 'openai']);
    const { metered, statuses } = await runApp(dir, 'app.mjs', {});
    // One call made; the refused one never reached the provider, and the SDK did not retry it.
    expect(metered).toEqual(['Hi', 'RateLimitError', 429, 1]);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it("an ESM app: LangChain's ChatOpenAI over meteredFetch raises a refusal as its rate-limit error and does not retry it", async () => {
    const dir = await project('esm-langchain-openai', packed, ['@tollgate/core', '@tollgate/store-memory', '@tollgate/llm'], ['@langchain/openai', '@langchain/core']);
    const output = await runApp<{ answer: string; refusal: object; attempts: number; providerCalls: number }>(dir, 'app.mjs');
    expect(output.answer).toBe('Hi');
    expect(output.refusal).toEqual({ status: 429, lc_error_code: 'MODEL_RATE_LIMIT', limit: 'usd-per-day' });
    // Two attempts through meteredFetch, one per invoke: LangChain's retries (on, by default) did
    // not repeat the refused one; and only the admitted one reached the provider.
    expect(output.attempts).toBe(2);
    expect(output.providerCalls).toBe(1);
  });

  it('an ESM app: the AI SDK middleware meters every step of an ai 7 tool loop on one lease', async () => {
    const dir = await project('esm-ai-sdk-tools', packed, ['@tollgate/core', '@tollgate/store-memory', '@tollgate/llm'], ['ai', '@ai-sdk/openai']);
    interface Totals { reported: [number, number]; steps: number; records: number; reservedTokens: number; tokens: number; cost: number }
    const { text, afterStep, caps, usage } = await runApp<{ text: string; afterStep: Totals[]; caps: number[]; usage: Array<[string, number]> }>(dir, 'app.mjs');
    // The tool call, then the answer: two steps of the three stopWhen allows.
    expect(text).toBe('Sunny in Paris.');
    expect(afterStep.map(({ reported }) => reported)).toEqual([[120, 40], [180, 12]]);
    // Each step was counted, reserved and recorded on the lease before the next began.
    expect(afterStep.map(({ steps, records }) => [steps, records])).toEqual([[1, 1], [2, 2]]);
    // Each reserved its prompt's estimate plus the output cap it was sent with (gpt-4o's default,
    // 4,096); the second prompt carries the tool call and its result, so it reserved more.
    expect(caps).toEqual([4096, 4096]);
    const inputReserved = [afterStep[0]!.reservedTokens - caps[0]!, afterStep[1]!.reservedTokens - afterStep[0]!.reservedTokens - caps[1]!];
    expect(inputReserved[0]).toBeGreaterThan(0);
    expect(inputReserved[1]).toBeGreaterThan(inputReserved[0]!);
    // What was recorded is what the provider reported, priced as gpt-4o ($2.50 in, $10 out per million).
    expect(afterStep.map(({ tokens }) => tokens)).toEqual([160, 352]);
    expect(afterStep[0]!.cost).toBeCloseTo((120 * 2.5 + 40 * 10) / 1e6, 12);
    expect(afterStep[1]!.cost).toBeCloseTo((300 * 2.5 + 52 * 10) / 1e6, 12);
    // Released: one request, and the reservations refunded down to what was used.
    expect(usage.slice(0, 2)).toEqual([['rpm', 1], ['tpm', 352]]);
    expect(usage[2]![0]).toBe('daily-usd');
    expect(usage[2]![1]).toBeCloseTo((300 * 2.5 + 52 * 10) / 1e6, 12);
  });

  it('a CommonJS app: Fastify over SQLite with the memory store as fallback, estimated by @tollgate/llm', async () => {
    const dir = await project('cjs-fastify-sqlite', packed, ['@tollgate/core', '@tollgate/store-sqlite', '@tollgate/store-memory', '@tollgate/adapter-fastify', '@tollgate/llm'], ['fastify', 'better-sqlite3']);
    const { statuses, reserved, usage } = await runApp(dir, 'app.cjs', { DATABASE: join(dir, 'limits.db') });
    expect(statuses).toEqual([200, 200, 429]);
    // Each admitted request reserved its estimate (the prompt's tokens plus max_tokens, 100) and
    // settled at what the handler recorded (30 tokens).
    expect(reserved).toBeGreaterThan(100);
    expect(usage).toEqual([['rpm', 2], ['tpm', 60]]);
  });

  it('an edge-style app: a Next.js route handler over Upstash', async () => {
    const dir = await project('esm-next-upstash', packed, ['@tollgate/core', '@tollgate/store-upstash', '@tollgate/adapter-next'], ['@upstash/redis', 'next', 'react', 'react-dom']);
    const { statuses, usage } = await runApp(dir, 'app.mjs', { UPSTASH_REDIS_REST_URL: bridge!.url, UPSTASH_REDIS_REST_TOKEN: 'packaging-token' });
    expect(statuses).toEqual([200, 200, 429]);
    expect(usage).toEqual([['rpm', 2]]);
  });

  it('a TypeScript app type-checks against every package with moduleResolution node16 and bundler', async () => {
    const dir = await project(
      'types',
      packed,
      Object.keys(packed),
      Object.keys(THIRD_PARTY),
      { ...TYPESCRIPT, '@types/better-sqlite3': '^7.6.13', vitest: '^4.1.0' },
    );
    const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
      await expect(run(process.execPath, [tsc, '-p', config], { cwd: dir }).then(() => 'ok')).resolves.toBe('ok');
    }
  });

  it("the root README's example and the Express adapter README's, copied from the Markdown, compile against the packages; the root one runs", async () => {
    const dir = await project('readme-examples', packed, ['@tollgate/core', '@tollgate/store-memory', '@tollgate/adapter-express', '@tollgate/llm'], ['express', 'openai'], TYPESCRIPT);
    writeFileSync(join(dir, 'root-readme.ts'), exampleAfter('README.md', '## Example'));
    writeFileSync(join(dir, 'adapter-express-readme.ts'), exampleAfter('packages/adapter-express/README.md', '## Example'));
    const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    await expect(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir }).then(() => 'ok')).resolves.toBe('ok');
    // The Express example listens on port 3000 and calls OpenAI: it is compiled, not run.
    const { stdout } = await run(process.execPath, ['dist/main.js'], { cwd: dir });
    // It ran to its end, and printed nothing of its own: its request was admitted (a refusal prints `429: …`).
    expect(stdout).toBe('the root README example ran to its end\n');
  });
});
