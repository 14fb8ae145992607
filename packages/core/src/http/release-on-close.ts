import type { TollgateContext } from './types.js';

/**
 * The lease lifecycle every Node adapter shares: a request's lease is released when its response
 * closes (sent, failed, or the client gone mid-stream), whichever comes first, the limiter's answer
 * or the close. An adapter listens with `onClose` before it asks the limiter (a client may leave
 * while the limiter decides), then hands the admitted request's context to `hold`. Adapters keep
 * their per-request state in a subclass, so a request costs one object.
 */
export class ReleaseOnClose {
  private closed = false;
  private release: ((status?: number) => Promise<void>) | undefined = undefined;

  /** For the response's 'close' event, which fires once (so `on` will do, and costs less than `once`). */
  readonly onClose = (): void => {
    this.closed = true;
    void this.release?.(this.status());
  };

  /** The response's status when it closes, for `refundWhen` (an adapter reads its response's). */
  protected status(): number | undefined {
    return undefined;
  }

  /**
   * Takes charge of an admitted request's lease, until the response closes. `false` when nobody is
   * left to answer (the response closed already, or `gone` says so): the lease is released now,
   * and the request should spend nothing more.
   */
  hold(context: TollgateContext, gone = false): boolean {
    if (this.closed || gone) {
      void context.release();
      return false;
    }
    this.release = context.release;
    return true;
  }
}
