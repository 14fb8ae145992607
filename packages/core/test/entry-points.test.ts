import { describe, expect, it } from 'vitest';
import * as http from '../src/http/index.js';
import * as root from '../src/index.js';
import * as store from '../src/store/index.js';

describe('entry points', () => {
  it.each([
    ['@tollgate/core/store', store],
    ['@tollgate/core/http', http],
  ])('%s exports a part of @tollgate/core: the same values, never copies', (_, entry) => {
    for (const [name, value] of Object.entries(entry)) expect([name, root[name as keyof typeof root]]).toEqual([name, value]);
    expect(Object.keys(entry).length).toBeGreaterThan(3);
  });

  it('store authors get the contract, the reference engine, the deny cache, compensation and the errors with their prefix', () => {
    expect(Object.keys(store).sort()).toEqual(
      ['ALL_ALGORITHMS', 'ConfigurationError', 'DenyCache', 'errorPrefix', 'StoreError', 'StoreTimeoutError', 'TollgateError', 'applyBatch', 'compensation'].sort(),
    );
  });

  it('adapters get the HTTP conventions', () => {
    expect(Object.keys(http).sort()).toEqual(
      [
        'ConfigurationError',
        'DEFAULT_HEADER_FAMILIES',
        'InvalidInputError',
        'ReleaseOnClose',
        'errorPrefix',
        'TollgateError',
        'createHttpLimit',
        'ipIdentity',
        'rateLimitHeaders',
        'refusalResponse',
      ].sort(),
    );
  });
});
