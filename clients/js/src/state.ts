// The match state, rebuilt from keyframes and deltas exactly as the Rust client's `Mirror`
// (shared/src/snapshot/mirror.rs) does, with change callbacks in the shape Colyseus users
// know: onAdd / onRemove / onChange per row, listen(field), onGlobals.
//
// The wire format (protocol 2, docs/PROTOCOL.md, "snapshot"): arrays, no string keys.
// A keyframe `[tick, 0, schema, seats, rows, globals]` carries everything, with each field's
// name and quantization; a delta `[tick, base, acks, changes, removed, globals?]` carries
// only what changed since the snapshot of tick `base` (a quantized number as the difference
// of its integers). A delta whose base is not the state held is skipped until a keyframe.

/** A msgpack value as socket.io-msgpack-parser decodes it. */
export type Value = unknown;

/** The argument of a `snapshot` event: a keyframe or a delta, as an array. */
export type SnapshotMsg = readonly Value[];

/** A row field as a keyframe describes it. */
export interface FieldSpec {
  /** The field's name. */
  name: string;
  /** A quantized number's step (the value of one unit of its integer), or null. */
  step: number | null;
  /** If set, a quantized number's integers wrap into `0..modulo`. */
  modulo: number | null;
}

/** One replicated entity: its fields by name. */
export type Row = Record<string, Value>;

/** What applying a snapshot produced. */
export interface Applied {
  /** The tick that produced the state. */
  tick: number;
  /** Whether it arrived as a keyframe. */
  keyframe: boolean;
  /** For each seated player id, the `seq` of the last input the server applied. */
  acks: Record<string, number>;
}

type RowCallback = (key: number, row: Readonly<Row>) => void;
type ChangeCallback = (key: number, row: Readonly<Row>, changed: readonly string[]) => void;
type FieldCallback = (key: number, value: Value, previous: Value) => void;
type GlobalsCallback = (globals: Value, previous: Value) => void;

/** Unsubscribes a callback. */
export type Unsubscribe = () => void;

function int(v: Value, what: string): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "bigint") return Number(v);
  throw new TypeError(`${what} is not an integer`);
}

function list(v: Value, what: string): readonly Value[] {
  if (!Array.isArray(v)) throw new TypeError(`${what} is not an array`);
  return v;
}

/** The number a quantized field's integer stands for. */
function dequantize(f: FieldSpec, q: number): number {
  const step = f.step ?? 1;
  // Hundredths and the like: dividing by the integer 100 gives the nearest double to the
  // decimal (12.34), where multiplying by 0.01 may not.
  const inverse = Math.round(1 / step);
  return Math.abs(1 / step - inverse) < 1e-9 ? q / inverse : q * step;
}

/** A quantized field's integer after a delta's difference `d`. */
function addQuantized(f: FieldSpec, q: number, d: number): number {
  if (f.modulo === null) return q + d;
  return (((q + d) % f.modulo) + f.modulo) % f.modulo;
}

/** Whether bit `i` of a mask is set; masks are unsigned ints up to 64 bits. */
function bit(mask: Value, i: number): boolean {
  if (typeof mask === "bigint") return ((mask >> BigInt(i)) & 1n) === 1n;
  if (typeof mask === "number") return Math.floor(mask / 2 ** i) % 2 === 1;
  throw new TypeError("a delta's mask is not an integer");
}

function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The state of a match: rows by key, and globals. `apply` each `snapshot` event's argument
 * in order; callbacks fire for what changed since the previous state.
 */
export class StateStore {
  private heldTick: number | null = null;
  /** Rows as sent: a quantized field holds its integer. */
  private current = new Map<number, Value[]>();
  private rowObjects = new Map<number, Row>();
  private spec: FieldSpec[] = [];
  /** Seat → [player id, seq of the last input applied]. */
  private seats = new Map<number, [string, number]>();
  private globalsValue: Value = null;
  private readonly adds = new Set<RowCallback>();
  private readonly removes = new Set<RowCallback>();
  private readonly changes = new Set<ChangeCallback>();
  private readonly fieldListeners = new Map<string, Set<FieldCallback>>();
  private readonly globalListeners = new Set<GlobalsCallback>();

  /** The row field names, from the last keyframe. */
  get fields(): readonly string[] {
    return this.spec.map((f) => f.name);
  }

  /** The row fields with their quantization, from the last keyframe. */
  get fieldSpecs(): readonly FieldSpec[] {
    return this.spec;
  }

  /** The rows after the last snapshot applied, by key; quantized numbers as numbers. */
  get rows(): ReadonlyMap<number, Readonly<Row>> {
    return this.rowObjects;
  }

  /** The globals after the last snapshot applied. */
  get globals(): Value {
    return this.globalsValue;
  }

  /** The tick of the state held (the base the next delta must name), or null before the first keyframe. */
  get tick(): number | null {
    return this.heldTick;
  }

  /** The seat of a player, from the last keyframe. */
  seatOf(player: string): number | undefined {
    for (const [seat, [id]] of this.seats) if (id === player) return seat;
    return undefined;
  }

  /** The row whose field `field` equals `value` (e.g. a player's own row by its id). */
  find(field: string, value: Value): [number, Readonly<Row>] | undefined {
    for (const entry of this.rowObjects) {
      if (entry[1][field] === value) return entry;
    }
    return undefined;
  }

  /**
   * Applies one snapshot. Returns what it was, or null for a delta against a state this
   * store does not hold (a snapshot was missed, or it came before the first keyframe): the
   * state stays as it was until the next keyframe. Throws on a snapshot that is not of the
   * documented shape, leaving the state as it was.
   */
  apply(s: SnapshotMsg): Applied | null {
    if (!Array.isArray(s) || s.length < 5 || s.length > 6) throw new TypeError("a snapshot is an array of 5 or 6");
    const tick = int(s[0], "tick");
    const base = int(s[1], "base");
    let next: Map<number, Value[]>;
    let seats: Map<number, [string, number]>;
    let globals: Value = this.globalsValue;
    const keyframe = base === 0;
    if (keyframe) {
      if (s.length !== 6) throw new TypeError("a keyframe is an array of 6");
      const spec = list(s[2], "schema").map((f): FieldSpec => {
        const [name, step, modulo] = list(f, "a field");
        if (typeof name !== "string") throw new TypeError("a field name is not a string");
        const st = step === null ? null : Number(step);
        if (st !== null && !(st > 0 && Number.isFinite(st))) throw new TypeError("a step is not a positive number");
        const m = modulo === null ? null : int(modulo, "modulo");
        return { name, step: st, modulo: m };
      });
      seats = new Map();
      const seatList = list(s[3], "seats");
      if (seatList.length % 3 !== 0) throw new TypeError("seats come in threes");
      for (let i = 0; i < seatList.length; i += 3) {
        const player = seatList[i + 1];
        if (typeof player !== "string") throw new TypeError("a seat's player is not a string");
        seats.set(int(seatList[i], "seat"), [player, int(seatList[i + 2], "seq")]);
      }
      const n = spec.length;
      const rows = list(s[4], "rows");
      if (rows.length % (n + 1) !== 0) throw new TypeError("rows do not match the schema");
      next = new Map();
      for (let i = 0; i < rows.length; i += n + 1) {
        const values = rows.slice(i + 1, i + 1 + n);
        spec.forEach((f, j) => f.step !== null && int(values[j], f.name));
        next.set(int(rows[i], "a row key"), values);
      }
      globals = s[5];
      this.spec = spec;
    } else {
      if (this.heldTick === null || base !== this.heldTick) return null;
      seats = new Map(this.seats);
      const acks = list(s[2], "acks");
      if (acks.length > 0 && acks.length === seats.size) {
        // one increase per seat, in seat order
        const order = [...seats.keys()].sort((a, b) => a - b);
        order.forEach((seat, i) => {
          const [player, seq] = seats.get(seat)!;
          seats.set(seat, [player, seq + int(acks[i], "ack")]);
        });
      } else {
        if (acks.length % 2 !== 0) throw new TypeError("acks come in pairs");
        for (let i = 0; i < acks.length; i += 2) {
          const seat = int(acks[i], "seat");
          const held = seats.get(seat);
          if (!held) throw new TypeError("an ack for a seat the keyframe did not list");
          seats.set(seat, [held[0], held[1] + int(acks[i + 1], "ack")]);
        }
      }
      next = new Map(this.current);
      const n = this.spec.length;
      const changes = list(s[3], "changes");
      for (let i = 0; i < changes.length; ) {
        const key = int(changes[i], "a changed row's key");
        const mask = changes[i + 1];
        i += 2;
        const before = this.current.get(key);
        const row: Value[] = before ? [...before] : new Array<Value>(n).fill(null);
        for (let f = 0; f < n; f++) {
          if (!bit(mask, f)) continue;
          if (i >= changes.length) throw new TypeError("a delta names more fields than it carries");
          const v = changes[i++];
          const spec = this.spec[f]!;
          if (spec.step === null) {
            row[f] = v;
          } else {
            const q = int(v, spec.name);
            row[f] = before ? addQuantized(spec, int(before[f], spec.name), q) : q;
          }
        }
        if (!before && mask !== 2 ** n - 1 && !(typeof mask === "bigint" && mask === (1n << BigInt(n)) - 1n)) {
          throw new TypeError("a new row comes whole");
        }
        next.set(key, row);
      }
      for (const key of list(s[4], "removed")) next.delete(int(key, "a removed key"));
      if (s.length === 6) globals = s[5];
    }
    this.heldTick = tick;
    this.seats = seats;
    this.commit(next, globals);
    const acks: Record<string, number> = {};
    for (const [player, seq] of this.seats.values()) acks[player] = seq;
    return { tick, keyframe, acks };
  }

  /** Makes `next` the current state and tells the callbacks what changed. */
  private commit(next: Map<number, Value[]>, globals: Value): void {
    const previous = this.current;
    this.current = next;
    const removed: [number, Row][] = [];
    for (const [key] of previous) {
      if (!next.has(key)) {
        const row = this.rowObjects.get(key);
        this.rowObjects.delete(key);
        if (row) removed.push([key, row]);
      }
    }
    for (const [key, row] of removed) for (const cb of this.removes) cb(key, row);
    const value = (i: number, v: Value): Value => {
      const f = this.spec[i]!;
      return f.step === null ? v : dequantize(f, v as number);
    };
    for (const [key, values] of next) {
      const before = previous.get(key);
      if (before === values) continue;
      const row: Row = {};
      this.spec.forEach((f, i) => (row[f.name] = value(i, values[i])));
      this.rowObjects.set(key, row);
      if (before === undefined) {
        for (const cb of this.adds) cb(key, row);
        continue;
      }
      const changed: number[] = [];
      this.spec.forEach((_, i) => {
        if (!sameValue(before[i], values[i])) changed.push(i);
      });
      if (changed.length === 0) continue;
      const names = changed.map((i) => this.spec[i]!.name);
      for (const cb of this.changes) cb(key, row, names);
      for (const i of changed) {
        const listeners = this.fieldListeners.get(this.spec[i]!.name);
        if (!listeners) continue;
        for (const cb of listeners) cb(key, value(i, values[i]), value(i, before[i]));
      }
    }
    const oldGlobals = this.globalsValue;
    this.globalsValue = globals;
    if (!sameValue(oldGlobals, globals)) for (const cb of this.globalListeners) cb(globals, oldGlobals);
  }

  /** Calls `cb` for every row that appears (including those already there, at once). */
  onAdd(cb: RowCallback, immediate = true): Unsubscribe {
    this.adds.add(cb);
    if (immediate) for (const [key, row] of this.rowObjects) cb(key, row);
    return () => this.adds.delete(cb);
  }

  /** Calls `cb` for every row that disappears. */
  onRemove(cb: RowCallback): Unsubscribe {
    this.removes.add(cb);
    return () => this.removes.delete(cb);
  }

  /** Calls `cb` for every row whose fields changed, with the names of those fields. */
  onChange(cb: ChangeCallback): Unsubscribe {
    this.changes.add(cb);
    return () => this.changes.delete(cb);
  }

  /** Calls `cb` whenever field `field` of a row changes. */
  listen(field: string, cb: FieldCallback): Unsubscribe {
    let set = this.fieldListeners.get(field);
    if (!set) this.fieldListeners.set(field, (set = new Set()));
    set.add(cb);
    return () => set.delete(cb);
  }

  /** Calls `cb` whenever the globals change. */
  onGlobals(cb: GlobalsCallback): Unsubscribe {
    this.globalListeners.add(cb);
    return () => this.globalListeners.delete(cb);
  }
}
