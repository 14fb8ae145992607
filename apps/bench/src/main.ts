/**
 * `pnpm bench`: every benchmark, peers in the same process and run; prints Markdown tables with
 * ratios (absolute numbers on shared machines are noisy, ratios much less so).
 */
import { benchMemory } from './memory.js';

console.log(`Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
console.log(await benchMemory());
