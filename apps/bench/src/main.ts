/**
 * `pnpm bench`: every benchmark, peers measured in the same run (alternating fresh processes);
 * prints Markdown tables with ratios (absolute numbers on shared machines are noisy, ratios less so).
 */
import { availableParallelism } from 'node:os';
import { report } from './harness.js';
import * as memory from './memory.js';

console.log(`Node ${process.version}, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 10)}\n`);
console.log(await report(memory.module, memory.suites));
