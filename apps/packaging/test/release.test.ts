/**
 * The release plan the pending changesets make: every public package moves together (the `fixed`
 * group) by the largest bump a changeset asks for, and a peer on @tollgate/core never escalates a
 * 0.x minor into a major (see scripts/peer-ranges.mjs).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ORDER = ['none', 'patch', 'minor', 'major'] as const;

function publicPackages(): string[] {
  return readdirSync(join(repo, 'packages'))
    .map((dir) => JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8')) as { name: string; private?: boolean })
    .filter((manifest) => !manifest.private)
    .map(({ name }) => name)
    .sort();
}

interface Status {
  changesets: Array<{ releases: Array<{ name: string; type: (typeof ORDER)[number] }> }>;
  releases: Array<{ name: string; type: (typeof ORDER)[number]; oldVersion: string; newVersion: string }>;
}

it('pending changesets bump every public package together, by the largest bump they ask for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-release-'));
  try {
    const output = join(dir, 'status.json');
    await run('pnpm', ['exec', 'changeset', 'status', '--output', output], { cwd: repo });
    const status = JSON.parse(readFileSync(output, 'utf8')) as Status;
    const asked = status.changesets.flatMap(({ releases }) => releases.map(({ type }) => ORDER.indexOf(type)));
    if (asked.length === 0) return; // nothing pending: nothing to release
    const largest = ORDER[Math.max(...asked)];
    // Private packages are listed too, with nothing to release.
    const released = status.releases.filter(({ type }) => type !== 'none');
    expect(released.map(({ name }) => name).sort()).toEqual(publicPackages());
    expect(new Set(released.map(({ type }) => type))).toEqual(new Set([largest]));
    expect(new Set(released.map(({ newVersion }) => newVersion)).size).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
