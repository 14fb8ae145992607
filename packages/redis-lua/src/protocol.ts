import type { Adjustment, CounterAlgorithm } from '@tollgate/core';

/**
 * The protocol between the stores' TypeScript and the engine script: every number the two sides
 * must agree on, written once. The encoder (`codec.ts`) reads them from here, and the script gets
 * them as Lua locals (`PROTOCOL_LUA`) declared at its top, so the Lua names them and never spells
 * them out. The layout they take part in is described at `encodeBatch`.
 */

/** A counter's kind: the first value of each counter in the batch. Every algorithm has one. */
export const KIND = { log: 1, window: 2, bucket: 3, calendar: 4, slots: 5 } as const satisfies Record<CounterAlgorithm['type'], number>;

/**
 * Added to a counter's kind when its charge count and its adjustments' value count follow its
 * parameters; without it, the counter has one charge and no adjustments (as in every decision), and
 * the counts are not sent. Greater than every kind, so the script tells the two apart by size.
 */
export const COUNTED = 8;

/** An adjustment's code: the first of its values, after its counter's charges. */
export const ADJUSTMENT = { add: 1, refund: 2, release: 3, touch: 4, reset: 5 } as const satisfies Record<Adjustment['type'], number>;

/**
 * Entries a log or window keeps in its body field before the rest spills to a key of its own: the
 * encoder declares a spill key for every counter that can hold more (see `ENGINE_LUA`).
 */
export const BODY_CAPACITY = 16;

/** The retry time in the reply of a charge that can never pass (more than its limit). */
export const NEVER = -1;

/** `local A, B = 1, 2`: one Lua statement declaring a constant per entry, names in capitals. */
function locals(constants: Readonly<Record<string, number>>): string {
  const names = Object.keys(constants).map((name) => name.toUpperCase());
  return `local ${names.join(', ')} = ${Object.values(constants).join(', ')}`;
}

/**
 * The constants above as the engine script's Lua locals: `LOG` … `SLOTS`, `COUNTED`, `ADD` …
 * `RESET`, `CAPACITY` and `NEVER`.
 */
export const PROTOCOL_LUA = [
  `${locals(KIND)} -- counter kinds`,
  `local COUNTED = ${COUNTED} -- added to a kind when the counts follow`,
  `${locals(ADJUSTMENT)} -- adjustment codes`,
  `local CAPACITY = ${BODY_CAPACITY} -- entries in a body field before it spills`,
  `local NEVER = ${NEVER} -- the retry time of a charge that can never pass`,
].join('\n');
