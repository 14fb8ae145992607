import { defineProject } from '../../vitest.shared.ts';

// One tsc run over every example: a few seconds, longer on a loaded CI machine.
export default defineProject({ hookTimeout: 120_000 });
