import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './blocks.js';

/** Every published package's README: what npm shows, where a link into the repository leads nowhere. */
function publishedReadmes(): string[] {
  return readdirSync(join(ROOT, 'packages')).filter((dir) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8')) as { private?: boolean };
    return manifest.private !== true;
  });
}

describe("published packages' READMEs", () => {
  it.each(publishedReadmes())('%s links only to absolute URLs or its own headings', (dir) => {
    const readme = readFileSync(join(ROOT, 'packages', dir, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^(https?:|mailto:|#)/.test(target));
    expect(relative).toEqual([]);
  });
});
