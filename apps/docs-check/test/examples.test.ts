import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { allBlocks, moduleName, ROOT, type CodeBlock } from './blocks.js';

const run = promisify(execFile);

const APP = join(ROOT, 'apps', 'docs-check');
/** Inside the app (gitignored), so the blocks resolve packages from its node_modules as a user's app would. */
const OUT = join(APP, '.blocks');
const TSC = join(APP, 'node_modules', '.bin', 'tsc');
const TSX = join(APP, 'node_modules', '.bin', 'tsx');
const RAN = '[docs-check] the example ran to its end';

interface Diagnostic {
  readonly line: number;
  readonly column: number;
  readonly text: string;
}

const blocks = allBlocks();
const checked = blocks.filter((block) => !block.flags.includes('nocheck'));
const diagnostics = new Map<string, Diagnostic[]>();
const where = (block: CodeBlock) => `${block.file}:${block.line}`;

/**
 * Whether a block augments a global or a module's types (`declare global`, `declare module`: how an
 * example types the `req.user` its authentication sets). Such a block is checked in a program of
 * its own, so its augmentation cannot make another example pass that fails in a user's project.
 */
const augments = (block: CodeBlock) => /^\s*declare\s+(global|module)\b/m.test(block.code);

/** Writes a tsconfig over `files` (in OUT) and type-checks them; resolves to tsc's output. */
async function typecheck(config: string, files: readonly string[]): Promise<string> {
  writeFileSync(
    join(OUT, config),
    JSON.stringify({
      // The repository's strict settings; the packages as users get them (built, through exports),
      // and no declarations but theirs.
      extends: '../../../tsconfig.base.json',
      compilerOptions: { lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: ['node'], allowJs: true, checkJs: true, noEmit: true },
      files,
    }),
  );
  return run(TSC, ['-p', join(OUT, config), '--pretty', 'false'], { cwd: OUT, maxBuffer: 64 << 20 }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string; code?: unknown }) => {
      if (typeof error.stdout !== 'string' || error.stdout === '') throw error;
      return error.stdout;
    },
  );
}

beforeAll(async () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const block of checked) {
    // `export {}` makes every block a module of its own (its names do not clash with another's, and
    // top-level await works); appended, so the block's lines keep their numbers.
    // A block that is run must also reach its end: a process can exit early, with status 0, when
    // only an unresolved promise is left.
    const end = block.flags.includes('run') ? `\nconsole.log(${JSON.stringify(RAN)});` : '';
    writeFileSync(join(OUT, moduleName(block)), `${block.code}${end}\nexport {};\n`);
  }
  writeFileSync(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
  // One tsc over every other block: one program is far faster than one per block.
  const alone = checked.filter(augments).map(moduleName);
  const shared = checked.filter((block) => !augments(block)).map(moduleName);
  const outputs = await Promise.all([
    typecheck('tsconfig.json', shared),
    ...alone.map((name) => typecheck(`tsconfig.${name}.json`, [name])),
  ]);
  for (const output of outputs) {
    let last: Diagnostic[] | undefined;
    for (const line of output.split('\n')) {
      const match = /^(.+?)\((\d+),(\d+)\): (error .*)$/.exec(line);
      if (match) {
        const file = match[1]!.replace(/^.*[\\/]/, '');
        last = diagnostics.get(file) ?? [];
        diagnostics.set(file, last);
        last.push({ line: Number(match[2]), column: Number(match[3]), text: match[4]! });
      } else if (line.startsWith(' ') && last?.length) {
        const previous = last.pop()!;
        last.push({ ...previous, text: `${previous.text}\n${line}` });
      } else if (line.trim() !== '') {
        // An error outside any block (the tsconfig): fail every block, loudly.
        throw new Error(`tsc failed outside the examples:\n${output}`);
      }
    }
  }
}, 120_000);

describe('every TypeScript example in the Markdown type-checks', () => {
  it('finds the examples', () => {
    expect(checked.length).toBeGreaterThan(10);
  });

  for (const block of checked) {
    const title = where(block);
    it(title, () => {
      const found = diagnostics.get(moduleName(block)) ?? [];
      const report = found.map((d) => `${block.file}:${block.line + d.line - 1}:${d.column} ${d.text}`).join('\n');
      expect(report, `the example at ${title} does not type-check`).toBe('');
    });
  }
});

const runnable = checked.filter((block) => block.flags.includes('run'));
describe.runIf(runnable.length > 0)('examples marked `run` run to completion', () => {
  for (const block of runnable) {
    it(where(block), async () => {
      const file = join(OUT, moduleName(block));
      const { stdout } = await run(TSX, [file], { cwd: OUT, timeout: 30_000 }).catch((error: { stderr?: string; message: string }) => {
        // Point stack frames at the Markdown, where the reader will fix the example.
        const output = (error.stderr || error.message).replaceAll(
          new RegExp(`[^\\s(]*${moduleName(block).replaceAll('.', '\\.')}:(\\d+)`, 'g'),
          (_, line: string) => `${block.file}:${block.line + Number(line) - 1}`,
        );
        throw new Error(`the example at ${where(block)} failed when run:\n${output}`);
      });
      expect(stdout, `the example at ${where(block)} exited before its last line`).toContain(RAN);
    });
  }
});
