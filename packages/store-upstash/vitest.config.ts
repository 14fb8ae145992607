import { defineProject } from '../../vitest.shared.ts';

export default defineProject({ globalSetup: ['test/global-setup.ts'] });
