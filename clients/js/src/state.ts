// The match state, rebuilt from keyframes and deltas exactly as the Rust client's `Mirror`
// (shared/src/snapshot/mirror.rs) does, with change callbacks in the shape Colyseus users
// know: onAdd / onRemove / onChange per row, listen(field), onGlobals.
//
// The wire format (protocol 5, docs/PROTOCOL.md, "snapshot"): arrays, no string keys.
// A keyframe `[tick, 0, schema, seats, rows, globals]` carries everything, with each kind of
// row's name and each field's name and quantization; a delta
// `[tick, back, acks, changes, removed, globals?]` carries only what changed since the
// snapshot of tick `tick - back`, its base (a quantized number as the difference of its
// integers; a new row whole, with its kind). A delta whose base is not the state held is
// skipped until a keyframe.

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

/** A kind of row (players, bullets …) as a keyframe describes it. */
export interface KindSpec {
  /** The kind's name. */
  name: string;
  /** Its fields, in order. */
  fields: FieldSpec[];
}

/** One replicated entity: its fields by name. */
export type Row = Record<string, Value>;

/** A row as sent: its kind's index and its values (a quantized field holds its integer). */
interface Held {
  kind: number;
  values: Value[];
}

/** What applying a snapshot produced. */
export interface Applied {
  /** The tick that produced the state. */
  tick: number;
  /** Whether it arrived as a keyframe. */
  keyframe: boolean;
  /** For each seated player id, the `seq` of the last input the server applied. */
  acks: Record<string, number>;
}

/** A row appeared or disappeared; `kind` is its kind's name. */
type RowCallback = (key: number, row: Readonly<Row>, kind: string) => void;
type ChangeCallback = (key: number, row: Readonly<Row>, changed: readonly string[], kind: string) => void;
type FieldCallback = (key: number, value: Value, previous: Value, kind: string) => void;
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

/** Whether a (positive) mask names only fields below `n`. */
function fitsMask(mask: Value, n: number): boolean {
  if (typeof mask === "bigint") return mask > 0n && mask >> BigInt(n) === 0n;
  return typeof mask === "number" && Number.isInteger(mask) && mask > 0 && mask < 2 ** n;
}

/**
 * A field of a keyframe's schema: a raw field's name, or a quantized field's `[name, step]` or
 * `[name, step, modulo]`, where a step of `1 / n` travels as `-n`.
 */
function fieldSpec(f: Value): FieldSpec {
  if (typeof f === "string") return { name: f, step: null, modulo: null };
  const entry = list(f, "a field");
  if (entry.length !== 2 && entry.length !== 3) throw new TypeError("a quantized field is [name, step] or [name, step, modulo]");
  const [name, step, modulo] = entry;
  if (typeof name !== "string") throw new TypeError("a field name is not a string");
  if (typeof step !== "number" && typeof step !== "bigint") throw new TypeError("a step is not a number");
  const wire = Number(step);
  const st = Number.isInteger(wire) && wire < 0 ? 1 / -wire : wire;
  if (!(st > 0 && Number.isFinite(st))) throw new TypeError("a step is not a positive number");
  const m = modulo === undefined ? null : int(modulo, "modulo");
  if (m !== null && m < 1) throw new TypeError("a modulo is at least 1");
  return { name, step: st, modulo: m };
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
  /** Rows as sent, by key. */
  private current = new Map<number, Held>();
  private rowObjects = new Map<number, Row>();
  private kindSpecs: KindSpec[] = [];
  /** Seat → [player id, seq of the last input applied]. */
  private seats = new Map<number, [string, number]>();
  private globalsValue: Value = null;
  private readonly adds = new Set<RowCallback>();
  private readonly removes = new Set<RowCallback>();
  private readonly changes = new Set<ChangeCallback>();
  private readonly fieldListeners = new Map<string, Set<FieldCallback>>();
  private readonly globalListeners = new Set<GlobalsCallback>();

  /** The kinds of rows with their fields, from the last keyframe. */
  get kinds(): readonly KindSpec[] {
    return this.kindSpecs;
  }

  /** The field names of kind `kind`, from the last keyframe (empty for a kind it lacks). */
  fieldsOf(kind: string): readonly string[] {
    return this.kindSpecs.find((k) => k.name === kind)?.fields.map((f) => f.name) ?? [];
  }

  /** Every row after the last snapshot applied, of every kind, by key; quantized numbers as numbers. */
  get rows(): ReadonlyMap<number, Readonly<Row>> {
    return this.rowObjects;
  }

  /** The rows of kind `kind`, by key. */
  rowsOf(kind: string): Map<number, Readonly<Row>> {
    const out = new Map<number, Readonly<Row>>();
    for (const [key, held] of this.current) {
      if (this.kindSpecs[held.kind]?.name === kind) out.set(key, this.rowObjects.get(key)!);
    }
    return out;
  }

  /** The kind of the row under `key`. */
  kindOf(key: number): string | undefined {
    const held = this.current.get(key);
    return held === undefined ? undefined : this.kindSpecs[held.kind]?.name;
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

  /** The row whose field `field` equals `value` (e.g. a player's own row by its id), of kind `kind` if given. */
  find(field: string, value: Value, kind?: string): [number, Readonly<Row>] | undefined {
    for (const entry of this.rowObjects) {
      if (kind !== undefined && this.kindOf(entry[0]) !== kind) continue;
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
    const back = int(s[1], "back");
    let next: Map<number, Held>;
    let seats: Map<number, [string, number]>;
    let kinds = this.kindSpecs;
    let globals: Value = this.globalsValue;
    /** Keys whose row is a new one although the key was held (another entity took it). */
    const replaced = new Set<number>();
    const keyframe = back === 0;
    // A delta's base is a tick before its own, the first tick of a match being 1.
    if (!keyframe && (back < 0 || back >= tick)) throw new TypeError("a delta's base is not a tick before its own");
    if (keyframe) {
      if (s.length !== 6) throw new TypeError("a keyframe is an array of 6");
      kinds = list(s[2], "schema").map((k): KindSpec => {
        const [name, fields] = list(k, "a kind");
        if (typeof name !== "string") throw new TypeError("a kind's name is not a string");
        return { name, fields: list(fields, "a kind's fields").map(fieldSpec) };
      });
      if (new Set(kinds.map((k) => k.name)).size !== kinds.length) throw new TypeError("two kinds share a name");
      seats = new Map();
      const seatList = list(s[3], "seats");
      if (seatList.length % 3 !== 0) throw new TypeError("seats come in threes");
      for (let i = 0; i < seatList.length; i += 3) {
        const player = seatList[i + 1];
        if (typeof player !== "string") throw new TypeError("a seat's player is not a string");
        seats.set(int(seatList[i], "seat"), [player, int(seatList[i + 2], "seq")]);
      }
      const perKind = list(s[4], "rows");
      if (perKind.length !== kinds.length) throw new TypeError("rows do not match the schema's kinds");
      next = new Map();
      kinds.forEach((spec, kind) => {
        const n = spec.fields.length;
        const rows = list(perKind[kind], "a kind's rows");
        if (rows.length % (n + 1) !== 0) throw new TypeError("rows do not match the schema");
        for (let i = 0; i < rows.length; i += n + 1) {
          const values = rows.slice(i + 1, i + 1 + n);
          spec.fields.forEach((f, j) => f.step !== null && int(values[j], f.name));
          const key = int(rows[i], "a row key");
          if (next.has(key)) throw new TypeError("a key appears twice");
          next.set(key, { kind, values });
          // The same key under another kind is another row.
          const before = this.current.get(key);
          if (before && this.kindSpecs[before.kind]?.name !== spec.name) replaced.add(key);
        }
      });
      globals = s[5];
    } else {
      if (this.heldTick === null || tick - back !== this.heldTick) return null;
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
      const changed = new Set<number>();
      const changes = list(s[3], "changes");
      for (let i = 0; i < changes.length; ) {
        const key = int(changes[i], "a changed row's key");
        const mask = changes[i + 1];
        i += 2;
        if (changed.has(key)) throw new TypeError("a key changes twice in one delta");
        changed.add(key);
        const signed = typeof mask === "bigint" ? Number(mask) : mask;
        if (typeof signed === "number" && signed < 0) {
          // A new row of kind -(mask + 1), every field in order.
          const kind = -int(signed, "a mask") - 1;
          const spec = kinds[kind];
          if (!spec) throw new TypeError("a new row of a kind the keyframe did not list");
          if (i + spec.fields.length > changes.length) throw new TypeError("a new row is cut short");
          const values = changes.slice(i, i + spec.fields.length);
          spec.fields.forEach((f, j) => f.step !== null && int(values[j], f.name));
          i += spec.fields.length;
          if (this.current.has(key)) replaced.add(key);
          next.set(key, { kind, values });
          continue;
        }
        const before = this.current.get(key);
        if (!before) throw new TypeError("a change to a row that is not held");
        if (mask === 0 || mask === 0n) throw new TypeError("a change with an empty mask");
        const spec = kinds[before.kind]!;
        const n = spec.fields.length;
        if (!fitsMask(mask, n)) throw new TypeError("a mask names fields the kind does not have");
        const values = [...before.values];
        for (let f = 0; f < n; f++) {
          if (!bit(mask, f)) continue;
          if (i >= changes.length) throw new TypeError("a delta names more fields than it carries");
          const v = changes[i++];
          const field = spec.fields[f]!;
          values[f] = field.step === null ? v : addQuantized(field, int(before.values[f], field.name), int(v, field.name));
        }
        next.set(key, { kind: before.kind, values });
      }
      for (const key of list(s[4], "removed")) {
        const k = int(key, "a removed key");
        if (changed.has(k)) throw new TypeError("a key both changed and removed");
        next.delete(k);
      }
      if (s.length === 6) globals = s[5];
    }
    this.heldTick = tick;
    this.seats = seats;
    this.commit(kinds, next, replaced, globals);
    const acks: Record<string, number> = {};
    for (const [player, seq] of this.seats.values()) acks[player] = seq;
    return { tick, keyframe, acks };
  }

  /** Makes `next` the current state and tells the callbacks what changed. */
  private commit(kinds: KindSpec[], next: Map<number, Held>, replaced: ReadonlySet<number>, globals: Value): void {
    const previous = this.current;
    const previousKinds = this.kindSpecs;
    this.current = next;
    this.kindSpecs = kinds;
    const removed: [number, Row, string][] = [];
    for (const [key, held] of previous) {
      if (!next.has(key) || replaced.has(key)) {
        const row = this.rowObjects.get(key);
        this.rowObjects.delete(key);
        if (row) removed.push([key, row, previousKinds[held.kind]?.name ?? ""]);
      }
    }
    for (const [key, row, kind] of removed) for (const cb of this.removes) cb(key, row, kind);
    for (const [key, held] of next) {
      const before = replaced.has(key) ? undefined : previous.get(key);
      if (before === held) continue;
      const spec = kinds[held.kind]!;
      const value = (i: number, v: Value): Value => {
        const f = spec.fields[i]!;
        return f.step === null ? v : dequantize(f, v as number);
      };
      const row: Row = {};
      spec.fields.forEach((f, i) => (row[f.name] = value(i, held.values[i])));
      this.rowObjects.set(key, row);
      if (before === undefined) {
        for (const cb of this.adds) cb(key, row, spec.name);
        continue;
      }
      const changed: number[] = [];
      spec.fields.forEach((_, i) => {
        if (!sameValue(before.values[i], held.values[i])) changed.push(i);
      });
      if (changed.length === 0) continue;
      const names = changed.map((i) => spec.fields[i]!.name);
      for (const cb of this.changes) cb(key, row, names, spec.name);
      for (const i of changed) {
        const listeners = this.fieldListeners.get(spec.fields[i]!.name);
        if (!listeners) continue;
        for (const cb of listeners) cb(key, value(i, held.values[i]), value(i, before.values[i]), spec.name);
      }
    }
    const oldGlobals = this.globalsValue;
    this.globalsValue = globals;
    if (!sameValue(oldGlobals, globals)) for (const cb of this.globalListeners) cb(globals, oldGlobals);
  }

  /** Calls `cb` for every row that appears (including those already there, at once). */
  onAdd(cb: RowCallback, immediate = true): Unsubscribe {
    this.adds.add(cb);
    if (immediate) for (const [key, row] of this.rowObjects) cb(key, row, this.kindOf(key) ?? "");
    return () => this.adds.delete(cb);
  }

  /** Calls `cb` for every row that disappears (or whose key another entity took over). */
  onRemove(cb: RowCallback): Unsubscribe {
    this.removes.add(cb);
    return () => this.removes.delete(cb);
  }

  /** Calls `cb` for every row whose fields changed, with the names of those fields. */
  onChange(cb: ChangeCallback): Unsubscribe {
    this.changes.add(cb);
    return () => this.changes.delete(cb);
  }

  /** Calls `cb` whenever field `field` of a row (of any kind with such a field) changes. */
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
