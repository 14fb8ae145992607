import type { TollgateContext } from '@tollgate/core';
import type { Request } from 'express';

/**
 * `req.tollgate` without adding a property to every request. Express gives each request its app's
 * `request` object as prototype, and V8 then makes each property added to that request a map of
 * its own: about 2 µs per property on Node 20 (a one-limit decision costs about 1 µs). So, on an
 * Express request, `tollgate` is an accessor defined once on the app's request prototype (and
 * on a mounted app's parents', whose handlers see the request after it), over a WeakMap.
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

/** Sets `req.tollgate`. A request whose prototype is no Express app's gets an own property. */
export function exposeContext(req: Request, context: TollgateContext): void {
  const proto: object | null = Object.getPrototypeOf(req);
  if (proto === null || !Object.hasOwn(proto, 'app')) {
    req.tollgate = context;
    return;
  }
  // Express marks each app's request prototype with an own `app`. A prototype that holds the
  // accessor had its parents given it in the same walk (Express links them when it mounts an app),
  // so a request usually stops at its first prototype.
  for (let p: object | null = proto; p !== null && Object.hasOwn(p, 'app') && !Object.hasOwn(p, 'tollgate'); p = Object.getPrototypeOf(p)) {
    Object.defineProperty(p, 'tollgate', accessor);
  }
  // Straight into the WeakMap, rather than `req.tollgate = context`: each request's map is new to
  // V8, so that assignment would look the setter up through the prototype chain every time.
  contexts.set(req, context);
}
