import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './blocks.js';

/**
 * CONTRIBUTING.md's map of the code names files: a map that points at files that moved is worse
 * than none. Paths in it are relative to packages/core/src/ unless they start with `packages/` or
 * `apps/`; a symbol written as `Name` (`path.ts`) must appear in that file.
 */
const CORE_SRC = 'packages/core/src/';

function mapSection(): string {
  const contributing = readFileSync(join(ROOT, 'CONTRIBUTING.md'), 'utf8');
  const start = contributing.indexOf('\n## A map of the code\n');
  expect(start, 'CONTRIBUTING.md has a "## A map of the code" section').toBeGreaterThan(-1);
  const end = contributing.indexOf('\n## ', start + 1);
  return contributing.slice(start, end === -1 ? undefined : end);
}

/** A backticked token that names a file or folder: a `.ts` file, or something with a slash (not a package name). */
function isPath(token: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)*\/?$/.test(token) && (token.includes('/') || token.endsWith('.ts'));
}

function repositoryPath(token: string): string {
  return /^(packages|apps)\//.test(token) ? token : `${CORE_SRC}${token}`;
}

const section = mapSection();
const paths = [...new Set([...section.matchAll(/`([^`\s]+)`/g)].map((match) => match[1]!).filter(isPath))];
const symbols = [...section.matchAll(/`([A-Za-z_$][\w$]*)` \(`([^`\s]+\.ts)`/g)].map((match) => [match[1]!, match[2]!] as const);

describe("CONTRIBUTING.md's map of the code", () => {
  it('names the decision path in real files', () => {
    expect(paths.length).toBeGreaterThan(20);
    expect(symbols.length).toBeGreaterThan(5);
  });

  it('names only files and folders that exist', () => {
    const missing = paths.filter((token) => {
      const stat = statSync(join(ROOT, repositoryPath(token)), { throwIfNoEntry: false });
      return stat === undefined || (token.endsWith('/') ? !stat.isDirectory() : !stat.isFile());
    });
    expect(missing.map(repositoryPath), 'named in CONTRIBUTING.md\'s map of the code, but not in the repository').toEqual([]);
  });

  it('finds each symbol in the file it names', () => {
    const misplaced = symbols
      .filter(([symbol, file]) => !new RegExp(`\\b${symbol}\\b`).test(readFileSync(join(ROOT, repositoryPath(file)), 'utf8')))
      .map(([symbol, file]) => `${symbol} (${repositoryPath(file)})`);
    expect(misplaced, 'CONTRIBUTING.md\'s map names these symbols in files that do not have them').toEqual([]);
  });
});
