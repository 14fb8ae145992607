import { defineProject } from '../../vitest.shared.ts';

export default defineProject({ testTimeout: 300_000, hookTimeout: 300_000 });
