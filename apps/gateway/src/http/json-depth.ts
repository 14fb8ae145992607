import { InvalidInputError } from '@tollgate/core';

/**
 * How deeply a request body's JSON may nest (the body itself is level 1). A chat request needs a
 * handful of levels (messages, content parts, tool schemas); code that walks a body recursively
 * (the estimator, the upstream's parser) must not meet thousands.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays deeper than `max`; iterative, so a deep value cannot overflow the stack. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Two parallel stacks rather than an object per node: every chat request's body goes through here.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** The 400 for a body nested deeper than `MAX_JSON_DEPTH`. */
export const nestedTooDeep = () => new InvalidInputError(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
