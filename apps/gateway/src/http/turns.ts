/**
 * Turns taken one at a time per key, in arrival order: a line per key that exists only while
 * someone holds the turn or waits for it.
 */

/** One place in a key's line. */
export interface Turn {
  /** Resolves when the turn comes; rejects if the place was given up first. */
  readonly ready: Promise<void>;
  /** Hands the turn on to the next in line, or gives up the place if the turn has not come yet. Later calls do nothing. */
  pass(): void;
}

/** Thrown into a `Turn.ready` whose place was given up before its turn came. */
export class TurnGivenUp extends Error {
  constructor() {
    super('the place in line was given up before its turn came');
    this.name = 'TurnGivenUp';
  }
}

export class Turns {
  /** Per key, the waiting places' grants; a key is present while its turn is held. */
  private readonly lines = new Map<string, Array<() => void>>();

  /** A place in `key`'s line: the turn comes at once if nobody holds it. */
  take(key: string): Turn {
    let granted = false;
    let passed = false;
    let grant!: () => void;
    let giveUp!: (reason: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      grant = () => {
        granted = true;
        resolve();
      };
      giveUp = reject;
    });
    // Nobody awaits a given-up place's promise: its rejection must not count as unhandled.
    ready.catch(() => undefined);
    const line = this.lines.get(key);
    if (line === undefined) {
      this.lines.set(key, []);
      grant();
    } else line.push(grant);
    return {
      ready,
      pass: () => {
        if (passed) return;
        passed = true;
        if (granted) return this.next(key);
        const waiting = this.lines.get(key)!;
        waiting.splice(waiting.indexOf(grant), 1);
        giveUp(new TurnGivenUp());
      },
    };
  }

  /** How many keys have a turn held now. */
  get held(): number {
    return this.lines.size;
  }

  private next(key: string): void {
    const line = this.lines.get(key)!;
    const grant = line.shift();
    if (grant) grant();
    else this.lines.delete(key);
  }
}
