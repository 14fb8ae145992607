import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The repository root, from this file (apps/docs-check/test). */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Info-string languages whose blocks are type-checked, and the extension each is written with. */
const LANGUAGES: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' };

/** One fenced code block of a Markdown file. */
export interface CodeBlock {
  /** The Markdown file, relative to the repository root (`docs/degradation.md`). */
  readonly file: string;
  /** The line of the block's first code line in that file (1-based): where an error at line 1 of the block is. */
  readonly line: number;
  readonly extension: 'ts' | 'js';
  /** The words after the language in the info string: `nocheck` (a deliberate fragment), `run` (also executed). */
  readonly flags: readonly string[];
  readonly code: string;
}

/**
 * The Markdown files whose examples are checked: docs/ (but not docs/api, which typedoc generates
 * from the TSDoc, whose `@example`s are fragments by design), the root README and every package's
 * and app's README.
 */
export function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (path !== 'docs/api') walk(path);
      } else if (entry.name.endsWith('.md')) {
        files.push(path);
      }
    }
  };
  walk('docs');
  for (const parent of ['packages', 'apps']) {
    for (const name of readdirSync(join(ROOT, parent)).sort()) {
      const readme = `${parent}/${name}/README.md`;
      if (statSync(join(ROOT, readme), { throwIfNoEntry: false })?.isFile()) files.push(readme);
    }
  }
  return files.sort();
}

const OPENING = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)([^`]*)$/;

/** The fenced blocks of one Markdown text whose language is checked. */
export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPENING.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const closing = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !closing.test(lines[end]!)) end++;
    const extension = LANGUAGES[open[2]!.toLowerCase()];
    if (extension) {
      blocks.push({
        file,
        line: i + 2,
        extension,
        flags: open[3]!.trim().split(/\s+/).filter(Boolean),
        code: lines.slice(i + 1, end).join('\n'),
      });
    }
    i = end;
  }
  return blocks;
}

/** Every checked block of every file `markdownFiles()` lists. */
export function allBlocks(): CodeBlock[] {
  return markdownFiles().flatMap((file) => extractBlocks(file, readFileSync(join(ROOT, file), 'utf8')));
}

/** A file name for a block: its Markdown path and line, readable in tsc's output. */
export function moduleName(block: CodeBlock): string {
  return `${block.file.replace(/\.md$/, '').replace(/[^A-Za-z0-9]+/g, '_')}_L${block.line}.${block.extension}`;
}

export function relativeToRoot(path: string): string {
  return relative(ROOT, path);
}
