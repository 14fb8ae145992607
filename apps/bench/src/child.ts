/**
 * One measurement in a fresh process: `child.ts <module> <suite> <contender> <warmupMs> <measureMs>`.
 * Prints operations per second.
 */
import { pathToFileURL } from 'node:url';
import { measure, type Suite } from './harness.js';

const [module, suite, contender, warmupMs, measureMs] = process.argv.slice(2);
const { suites } = (await import(pathToFileURL(module!).href)) as { suites: Record<string, Suite> };
const operation = await suites[suite!]!.contenders[Number(contender)]!.setup();
await measure(operation, Number(warmupMs));
process.stdout.write(`${await measure(operation, Number(measureMs), 1e9)}\n`);
process.exit(0);
