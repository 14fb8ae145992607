/**
 * One measurement in a fresh process: `child.ts <module> <suite> <contender> <warmupMs> <measureMs>`.
 * Prints the sample as JSON.
 */
import { pathToFileURL } from 'node:url';
import { measure, type Suite } from './harness.js';

const [module, key, contender, warmupMs, measureMs] = process.argv.slice(2);
const { suites } = (await import(pathToFileURL(module!).href)) as { suites: Record<string, Suite> };
const suite = suites[key!]!;
await suite.prepare?.();
const operation = await suite.contenders[Number(contender)]!.setup();
process.stdout.write(JSON.stringify(await measure(suite, operation, Number(warmupMs), Number(measureMs))));
process.exit(0);
