import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../src/metrics.js';

describe('the spend metric', () => {
  it('sums charges in nano-dollars and prints the exact decimal, never a float sum', () => {
    const metrics = new GatewayMetrics();

    // Summed as floats, these hundred charges make 1.281647999999999.
    for (let i = 0; i < 100; i++) metrics.spend.inc({}, 0.01281648);

    expect(metrics.text()).toContain('\ntollgate_spend_usd_total 1.281648\n');
  });
});
