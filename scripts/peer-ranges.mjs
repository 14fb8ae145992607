#!/usr/bin/env node
/**
 * After `changeset version`: moves the lower bound of every `@tollgate/*` range in the packages'
 * manifests up to the version just released, keeping the upper bound at the next major.
 *
 * The packages name `@tollgate/core` as a peer with `workspace:>=<version> <<next major>>` rather
 * than `workspace:^`: changesets bumps a package to a major whenever one of its peers leaves the
 * peer range, and in a fixed group that turned every 0.x minor release into 1.0.0. A range that
 * already includes the next minor avoids that; this script then raises its floor, so a published
 * package still refuses a core older than itself.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const manifests = readdirSync(join(root, 'packages')).map((dir) => join(root, 'packages', dir, 'package.json'));
const read = (file) => JSON.parse(readFileSync(file, 'utf8'));
const versions = new Map(manifests.map((file) => [read(file).name, read(file).version]));
const RANGE = /^workspace:>=\d+\.\d+\.\d+ <\d+\.0\.0$/;

for (const file of manifests) {
  const manifest = read(file);
  let changed = false;
  for (const field of ['peerDependencies', 'devDependencies', 'dependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (!versions.has(name) || !RANGE.test(range)) continue;
      const version = versions.get(name);
      const next = `workspace:>=${version} <${Number(version.split('.')[0]) + 1}.0.0`;
      if (next !== range) {
        manifest[field][name] = next;
        changed = true;
      }
    }
  }
  if (changed) writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}
