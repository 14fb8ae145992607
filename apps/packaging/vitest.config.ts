import { defineProject } from '../../vitest.shared.ts';

// npm installs (better-sqlite3 compiles from source, next is large) take minutes on a fresh machine.
export default defineProject({ testTimeout: 600_000, hookTimeout: 600_000 });
