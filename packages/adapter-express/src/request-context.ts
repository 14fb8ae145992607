import type { TollgateContext } from '@tollgate/core';
import type { Request } from 'express';

/**
 * `req.tollgate` without adding a property to every request. Express gives each request its app's
 * `request` object as prototype, and V8 then makes each property added to that request a map of
 * its own, which costs a request several times what this accessor does (apps/bench/README.md).
 * So, on an Express request, `tollgate` is an accessor defined once on the app's request prototype
 * (and on a mounted app's parents', whose handlers see the request after it), over a WeakMap.
 */
const contexts = new WeakMap<object, TollgateContext | undefined>();

const accessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object) {
    return contexts.get(this);
  },
  // An app (or a test) may assign `req.tollgate` itself: it reads back what it wrote.
  set(this: object, value: TollgateContext | undefined) {
    contexts.set(this, value);
  },
};

/** Express marks each app's request prototype with an own `app`. */
const isAppRequest = (proto: object) => Object.hasOwn(proto, 'app');

/**
 * Defines the accessor on an app's request prototype and on those of the apps it is mounted in
 * (Express links them when it mounts an app), up to the first that has it already.
 */
function prepare(proto: object): void {
  for (let p: object | null = proto; p !== null && isAppRequest(p) && !Object.hasOwn(p, 'tollgate'); p = Object.getPrototypeOf(p)) {
    Object.defineProperty(p, 'tollgate', accessor);
  }
}

/** Sets `req.tollgate`. A request whose prototype is no Express app's gets an own property. */
export function exposeContext(req: Request, context: TollgateContext): void {
  const proto: object | null = Object.getPrototypeOf(req);
  if (proto === null || !isAppRequest(proto)) {
    req.tollgate = context;
    return;
  }
  // Prepared in the same walk as its parents: after an app's first request, one check.
  if (!Object.hasOwn(proto, 'tollgate')) prepare(proto);
  // Straight into the WeakMap, rather than `req.tollgate = context`: each request's map is new to
  // V8, so that assignment would look the setter up through the prototype chain every time.
  contexts.set(req, context);
}
