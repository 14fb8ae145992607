#!/usr/bin/env node
/**
 * Before `pnpm test` and `pnpm bench`: makes sure the services the tests start themselves are on
 * the machine, so that the README's one test command works on a fresh Debian machine that has only
 * Node and npm. The tests run real `redis-server` processes (Debian's 7.x) and drive Debian's
 * `chromium` through playwright-core (a browser is never downloaded). Missing ones are installed
 * with apt-get when this runs as root; otherwise it stops and says what to install.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const onPath = (command) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
const executable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const needed = [
  { pkg: 'redis-server', present: () => onPath('redis-server'), why: 'the Redis stores, the packaging test and the gateway start real redis-server processes' },
  { pkg: 'chromium', present: () => executable('/usr/bin/chromium'), why: "the gateway's dashboard test drives /usr/bin/chromium" },
];
if (process.argv.includes('--redis-only')) needed.pop();

const missing = needed.filter(({ present }) => !present());
if (missing.length === 0) process.exit(0);

const names = missing.map(({ pkg }) => pkg);
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root || !onPath('apt-get')) {
  console.error(`[tollgate] the tests need ${names.join(' and ')}, which ${names.length > 1 ? 'are' : 'is'} not installed:`);
  for (const { pkg, why } of missing) console.error(`  - ${pkg}: ${why}`);
  console.error(`Install ${names.length > 1 ? 'them' : 'it'} (on Debian or Ubuntu: sudo apt-get install -y ${names.join(' ')}) and run the command again.`);
  process.exit(1);
}
console.log(`[tollgate] installing ${names.join(' and ')} with apt-get (the tests start them themselves)`);
const apt = (...args) => execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
apt('update', '-qq');
apt('install', '-y', '-qq', ...names);
const still = missing.filter(({ present }) => !present());
if (still.length > 0) {
  console.error(`[tollgate] apt-get finished, but ${still.map(({ pkg }) => pkg).join(' and ')} is still missing`);
  process.exit(1);
}
