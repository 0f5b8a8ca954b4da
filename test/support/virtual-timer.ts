import type { Timer } from '../../functions/services/reconcile.js';

/**
 * The reconciler's timer on a virtual clock: a sleep moves time at once and yields to
 * the event loop, so runs started side by side interleave as they would in real time.
 */
export class VirtualTimer implements Timer {
  private ms = 0;
  /** Every sleep asked for, in order. */
  readonly sleeps: number[] = [];

  now(): number {
    return this.ms;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.ms += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
