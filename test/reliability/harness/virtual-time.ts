import type { Timer } from '../../../functions/services/reconcile.js';

interface Wake {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A turn that neither sleeps nor ends within this much real time waits on something else. */
const TURN_LIMIT_MS = 20_000;

/**
 * Simulated time for the fault matrix. Activities (a Lambda invocation, a queue poller,
 * an orchestrator's saga, a Stripe delivery) take turns: one runs until it sleeps on
 * this clock or ends, then the next wake-up is due, and time jumps to it. The real I/O
 * an activity does (PostgreSQL through the Data API bridge) happens inside its turn and
 * is awaited, never raced, so hours pass in seconds and every run interleaves the same
 * way: the figures the suite reports are reproducible.
 *
 * An activity must wait only on this clock or on real I/O: two branches of one activity
 * sleeping at once, or a wait on another activity, would stall the turn (reported after
 * `TURN_LIMIT_MS` of real time).
 */
export class VirtualTime implements Timer {
  private ms: number;
  private seq = 0;
  private readonly wakes: Wake[] = [];
  private endTurn: (() => void) | undefined;
  private readonly failures: unknown[] = [];

  constructor(start: Date) {
    this.ms = start.getTime();
  }

  /** Milliseconds since the epoch, virtual: the reconciler's pacing timer reads it. */
  now(): number {
    return this.ms;
  }

  /** The functions' clock. */
  readonly clock = (): Date => new Date(this.ms);

  /** Ends the running activity's turn; it resumes `ms` later. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeAt(this.ms + Math.max(0, ms), resolve);
      this.yieldTurn();
    });
  }

  /** The running activity dies here, as a Lambda killed mid-invocation: it never resumes. */
  halt(): Promise<never> {
    this.yieldTurn();
    return new Promise<never>(() => {});
  }

  /** Starts an activity `delayMs` from now, after everything already due then. */
  spawn(work: () => Promise<unknown>, delayMs = 0): void {
    this.wakeAt(this.ms + Math.max(0, delayMs), () => {
      work()
        .catch((error: unknown) => {
          this.failures.push(error);
        })
        .finally(() => this.yieldTurn());
    });
  }

  /** Runs every turn due up to `end`, in order of time (ties in order of scheduling). */
  async runUntil(end: Date): Promise<void> {
    const endMs = end.getTime();
    for (let next = this.wakes[0]; next && next.at <= endMs; next = this.wakes[0]) {
      this.pop();
      this.ms = next.at;
      await this.turn(next);
      const [failure] = this.failures;
      if (failure !== undefined) throw failure;
    }
    this.ms = Math.max(this.ms, endMs);
  }

  private async turn(wake: Wake): Promise<void> {
    let stalled: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.endTurn = resolve;
        stalled = setTimeout(
          () =>
            reject(
              new Error(
                `an activity at ${new Date(wake.at).toISOString()} neither slept nor ended within ${TURN_LIMIT_MS} ms`,
              ),
            ),
          TURN_LIMIT_MS,
        );
        wake.run();
      });
    } finally {
      clearTimeout(stalled);
      this.endTurn = undefined;
    }
  }

  private yieldTurn(): void {
    const end = this.endTurn;
    this.endTurn = undefined;
    end?.();
  }

  // A binary heap ordered by (at, seq).
  private wakeAt(at: number, run: () => void): void {
    const heap = this.wakes;
    heap.push({ at, seq: this.seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Wake, heap[parent] as Wake)) break;
      swap(heap, i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.wakes;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left] as Wake, heap[least] as Wake)) least = left;
      if (right < heap.length && before(heap[right] as Wake, heap[least] as Wake)) least = right;
      if (least === i) return;
      swap(heap, i, least);
      i = least;
    }
  }
}

function before(a: Wake, b: Wake): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function swap(heap: Wake[], i: number, j: number): void {
  const held = heap[i] as Wake;
  heap[i] = heap[j] as Wake;
  heap[j] = held;
}
