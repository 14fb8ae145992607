import { describe, expect, it } from 'vitest';
import { TurnGivenUp, Turns } from '../src/http/turns.js';

/** Whether `promise` has settled once pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('Turns', () => {
  it('gives one key its turns one at a time, in arrival order', async () => {
    const turns = new Turns();
    const [first, second, third] = [turns.take('alice'), turns.take('alice'), turns.take('alice')];

    expect([await settled(first.ready), await settled(second.ready), await settled(third.ready)]).toEqual([true, false, false]);
    first.pass();
    expect([await settled(second.ready), await settled(third.ready)]).toEqual([true, false]);
    second.pass();
    expect(await settled(third.ready)).toBe(true);
    third.pass();
    expect(turns.held).toBe(0);
  });

  it('keeps keys apart', async () => {
    const turns = new Turns();
    turns.take('alice');

    expect(await settled(turns.take('bob').ready)).toBe(true);
    expect(turns.held).toBe(2);
  });

  it('passes a turn once, however often pass is called', async () => {
    const turns = new Turns();
    const first = turns.take('alice');
    const second = turns.take('alice');
    const third = turns.take('alice');

    first.pass();
    first.pass();

    expect([await settled(second.ready), await settled(third.ready)]).toEqual([true, false]);
  });

  it('lets a place be given up before its turn: its wait fails, and the line skips it', async () => {
    const turns = new Turns();
    const first = turns.take('alice');
    const quitter = turns.take('alice');
    const last = turns.take('alice');

    quitter.pass();
    await expect(quitter.ready).rejects.toBeInstanceOf(TurnGivenUp);
    first.pass();
    expect(await settled(last.ready)).toBe(true);
    last.pass();
    expect(turns.held).toBe(0);
  });
});
