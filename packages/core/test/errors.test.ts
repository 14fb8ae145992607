import { describe, expect, it } from 'vitest';
import { ConfigurationError, errorPrefix, TollgateError } from '../src/index.js';

describe('errors', () => {
  it('errorPrefix names the package after [tollgate], and core by [tollgate] alone', () => {
    expect(errorPrefix('store-redis')).toBe('[tollgate] [store-redis]');
    expect(errorPrefix()).toBe('[tollgate]');
  });

  it('a message gets the [tollgate] prefix once, whether or not it already has it', () => {
    expect(new ConfigurationError('clock must be a function').message).toBe('[tollgate] clock must be a function');
    expect(new TollgateError(`${errorPrefix('store-memory')} clock must be a function`).message).toBe('[tollgate] [store-memory] clock must be a function');
  });
});
