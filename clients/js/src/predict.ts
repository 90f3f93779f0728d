// Client-side prediction and reconciliation from acks, and an interpolation buffer for the
// entities a client does not control.
//
// The server applies a player's inputs in `seq` order, one per tick (docs/PROTOCOL.md,
// "input"), and every snapshot says, in `acks`, the last `seq` it applied for each player. A
// client predicts its own entity by applying each input locally as it sends it; when a
// snapshot arrives it starts again from the authoritative state and re-applies the inputs the
// server has not applied yet.

/** Advances a predicted state by one input of one tick of `dt` seconds. */
export type Step<S, I> = (state: S, input: I, dt: number) => S;

/** Predicts the local player's state from its unacknowledged inputs. */
export class Predictor<S, I> {
  private pending: { seq: number; input: I }[] = [];
  private predicted: S | null = null;

  /** `step` applies one input for one tick of `dt` seconds (1 / the match's tick rate). */
  constructor(
    private readonly step: Step<S, I>,
    private dt: number,
  ) {}

  /** Sets the tick length, from the welcome's tick rate. */
  setTickRate(rate: number): void {
    this.dt = 1 / rate;
  }

  /** Inputs sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.pending.length;
  }

  /** The predicted state, or null before the first authoritative state. */
  get state(): S | null {
    return this.predicted;
  }

  /** Records input `seq` as sent and applies it to the prediction at once. */
  push(seq: number, input: I): S | null {
    this.pending.push({ seq, input });
    if (this.predicted !== null) this.predicted = this.step(this.predicted, input, this.dt);
    return this.predicted;
  }

  /**
   * Starts again from `authoritative`, the server's state in a snapshot whose ack for this
   * player is `acked`: drops the inputs it applied and re-applies the others.
   */
  reconcile(authoritative: S, acked: number): S {
    this.pending = this.pending.filter((p) => p.seq > acked);
    let s = authoritative;
    for (const p of this.pending) s = this.step(s, p.input, this.dt);
    this.predicted = s;
    return s;
  }

  /** Forgets everything (a new match, or a seat lost). */
  reset(): void {
    this.pending = [];
    this.predicted = null;
  }
}

/** Blends two samples of an entity; `t` is in 0..1. */
export type Lerp<T> = (a: T, b: T, t: number) => T;

/**
 * Renders other entities a little in the past, between the two snapshots around the render
 * time, so they move smoothly at any frame rate whatever the network's jitter.
 */
export class Interpolator<T> {
  private samples: { time: number; entities: Map<number, T> }[] = [];

  /**
   * `delayMs` behind the newest snapshot (default: two ticks at 30 Hz); at most `capacity`
   * snapshots are kept.
   */
  constructor(
    private readonly lerp: Lerp<T>,
    private delayMs = 100,
    private readonly capacity = 32,
  ) {}

  /** Sets the delay, e.g. two ticks of the match's rate. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Adds the entities of a snapshot received at `time` (ms, e.g. performance.now()). */
  push(time: number, entities: Map<number, T>): void {
    this.samples.push({ time, entities });
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  }

  /** The entities as they were `delayMs` before `now`: interpolated, or the nearest sample. */
  sample(now: number): Map<number, T> {
    const at = now - this.delayMs;
    const out = new Map<number, T>();
    const s = this.samples;
    const last = s[s.length - 1];
    if (!last) return out;
    let i = s.length - 1;
    while (i > 0 && s[i]!.time > at) i--;
    const a = s[i]!;
    const b = s[i + 1];
    if (!b || at <= a.time) {
      const pick = at <= a.time ? a : last;
      for (const [k, v] of pick.entities) out.set(k, v);
      return out;
    }
    const t = Math.min(1, Math.max(0, (at - a.time) / (b.time - a.time)));
    for (const [k, vb] of b.entities) {
      const va = a.entities.get(k);
      out.set(k, va === undefined ? vb : this.lerp(va, vb, t));
    }
    return out;
  }
}
