import { describe, expect, it } from 'vitest';
import { ENGINE_LUA } from '../src/engine.js';
import { ADJUSTMENT, BODY_CAPACITY, COUNTED, KIND, NEVER, PROTOCOL_LUA } from '../src/protocol.js';

describe('the Lua protocol', () => {
  it('numbers kinds and adjustments apart, every kind below COUNTED', () => {
    const kinds = Object.values(KIND);
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const kind of kinds) expect(kind > 0 && kind < COUNTED).toBe(true);
    const codes = Object.values(ADJUSTMENT);
    expect(new Set(codes).size).toBe(codes.length);
    expect(Math.min(...codes)).toBeGreaterThan(0);
  });

  it('declares its constants as Lua locals under the names the script uses', () => {
    expect(PROTOCOL_LUA).toContain(`local LOG, WINDOW, BUCKET, CALENDAR, SLOTS = ${Object.values(KIND).join(', ')}`);
    expect(PROTOCOL_LUA).toContain(`local ADD, REFUND, RELEASE, TOUCH, RESET = ${Object.values(ADJUSTMENT).join(', ')}`);
    expect(PROTOCOL_LUA).toContain(`local COUNTED = ${COUNTED}`);
    expect(PROTOCOL_LUA).toContain(`local CAPACITY = ${BODY_CAPACITY}`);
    expect(PROTOCOL_LUA).toContain(`local NEVER = ${NEVER}`);
  });

  it('is where the engine script gets them: declared once, compared by name, never spelled out', () => {
    expect(ENGINE_LUA).toContain(PROTOCOL_LUA);
    const names = ['LOG', 'WINDOW', 'BUCKET', 'CALENDAR', 'SLOTS', 'COUNTED', 'ADD', 'REFUND', 'RELEASE', 'TOUCH', 'RESET', 'CAPACITY', 'NEVER', 'HOLD'];
    const declarations = [...ENGINE_LUA.matchAll(/^local ([A-Z_, ]+) =/gm)].flatMap((match) => match[1]!.split(', '));
    for (const name of names) expect(declarations.filter((declared) => declared === name), name).toHaveLength(1);
    // A kind or an operation compared with a number would be a second copy of the protocol.
    expect(ENGINE_LUA).not.toMatch(/\b(kind|op)\s*[=~<>]=?\s*-?\d/);
    expect(ENGINE_LUA).not.toMatch(/\bretry\s*=\s*-\d/);
    // HOLD, the script's own operation for a slot charge, must not be mistaken for an adjustment.
    const hold = Number(/^local HOLD = (-?\d+)/m.exec(ENGINE_LUA)?.[1]);
    expect(Object.values(ADJUSTMENT)).not.toContain(hold);
  });
});
