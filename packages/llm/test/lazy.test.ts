import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

it('importing the package loads no tokenizer, nor does estimating for other providers; the first OpenAI estimate loads it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-llm-lazy-'));
  try {
    const log = join(dir, 'resolved.log');
    writeFileSync(log, '');
    // A resolve hook that logs every gpt-tokenizer module the process resolves.
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const result = await next(specifier, context);\n  if (result.url.includes('gpt-tokenizer')) appendFileSync(${JSON.stringify(log)}, result.url + '\\n');\n  return result;\n}\n`,
    );
    const script = join(dir, 'main.mjs');
    writeFileSync(
      script,
      `import { register } from 'node:module';\nimport { readFileSync } from 'node:fs';\nimport { pathToFileURL } from 'node:url';\nregister(pathToFileURL(${JSON.stringify(hooks)}));\nconst llm = await import(pathToFileURL(${JSON.stringify(entry)}).href);\nconst lines = () => readFileSync(${JSON.stringify(log)}, 'utf8').split('\\n').filter(Boolean);\nconst afterImport = lines().length;\nawait llm.estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });\nconst afterClaude = lines().length;\nawait llm.estimateChatCompletion({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });\nconsole.log(JSON.stringify({ afterImport, afterClaude, afterOpenAI: lines() }));\n`,
    );
    const output = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as { afterImport: number; afterClaude: number; afterOpenAI: string[] };
    expect(result.afterImport).toBe(0);
    expect(result.afterClaude).toBe(0);
    expect(result.afterOpenAI.some((url) => url.includes('o200k_base'))).toBe(true);
    expect(readFileSync(log, 'utf8')).not.toContain('/model/');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
