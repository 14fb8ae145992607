import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GatewayConfigError } from './errors.js';
import { validate, type GatewayConfig } from './schema.js';
import { ConfigSource } from './source.js';

/**
 * Reads, parses and validates the configuration file (YAML, or JSON), applying the environment's
 * overrides. Throws `GatewayConfigError` naming the file, the line, the problem and the fix.
 */
export function loadConfig(file: string, env: Readonly<Record<string, string | undefined>> = process.env): GatewayConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GatewayConfigError(path, undefined, '', code === 'ENOENT' ? 'the configuration file does not exist' : `the configuration file cannot be read (${code ?? String(error)})`,
      'pass an existing file with --config <file> or TOLLGATE_CONFIG; apps/gateway/gateway.example.yaml is a complete example to copy');
  }
  return validate(ConfigSource.parse(path, text), dirname(path), env);
}
