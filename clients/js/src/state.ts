// The match state, rebuilt from keyframes and deltas exactly as the Rust client's `Mirror`
// (shared/src/snapshot/mirror.rs) does, with change callbacks in the shape Colyseus users
// know: onAdd / onRemove / onChange per row, listen(field), onGlobals.
//
// The wire format (docs/PROTOCOL.md, "snapshot"): a keyframe carries every row; a delta
// carries, relative to the keyframe named by `base`, the rows whose fields differ (with a
// bit mask of which fields follow) and the keys removed. Deltas never depend on each other.

/** A msgpack value as socket.io-msgpack-parser decodes it. */
export type Value = unknown;

/** A keyframe: every row. */
export interface KeyframeMsg {
  tick: number;
  acks: Record<string, number>;
  base: number;
  fields: string[];
  rows: Value[][];
  globals: Value;
}

/** A delta against the keyframe whose tick is `base`. */
export interface DeltaMsg {
  tick: number;
  acks: Record<string, number>;
  base: number;
  changed: Value[][];
  removed: number[];
  globals: Value;
}

/** The argument of a `snapshot` event. */
export type SnapshotMsg = KeyframeMsg | DeltaMsg;

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

function isKeyframe(s: SnapshotMsg): s is KeyframeMsg {
  return Array.isArray((s as KeyframeMsg).fields);
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
  private keyTick: number | null = null;
  private keyRows = new Map<number, Value[]>();
  private current = new Map<number, Value[]>();
  private rowObjects = new Map<number, Row>();
  private fieldNames: string[] = [];
  private globalsValue: Value = null;
  private readonly adds = new Set<RowCallback>();
  private readonly removes = new Set<RowCallback>();
  private readonly changes = new Set<ChangeCallback>();
  private readonly fieldListeners = new Map<string, Set<FieldCallback>>();
  private readonly globalListeners = new Set<GlobalsCallback>();

  /** The row field names, from the last keyframe. */
  get fields(): readonly string[] {
    return this.fieldNames;
  }

  /** The rows after the last snapshot applied, by key. */
  get rows(): ReadonlyMap<number, Readonly<Row>> {
    return this.rowObjects;
  }

  /** The globals after the last snapshot applied. */
  get globals(): Value {
    return this.globalsValue;
  }

  /** The tick of the keyframe deltas are applied to, or null before the first. */
  get keyframeTick(): number | null {
    return this.keyTick;
  }

  /** The row whose field `field` equals `value` (e.g. a player's own row by its id). */
  find(field: string, value: Value): [number, Readonly<Row>] | undefined {
    for (const entry of this.rowObjects) {
      if (entry[1][field] === value) return entry;
    }
    return undefined;
  }

  /**
   * Applies one snapshot. Returns what it was, or null for a delta whose keyframe this store
   * does not have (missed, or joined after it): the state stays as it was until the next
   * keyframe. Throws on a snapshot that is not of the documented shape, leaving the state as
   * it was.
   */
  apply(s: SnapshotMsg): Applied | null {
    let next: Map<number, Value[]>;
    if (isKeyframe(s)) {
      const rows = new Map<number, Value[]>();
      for (const r of s.rows) {
        const [key, ...values] = r;
        if (typeof key !== "number") throw new TypeError("a row key is not an integer");
        rows.set(key, values);
      }
      this.keyTick = s.tick;
      this.keyRows = rows;
      this.fieldNames = [...s.fields];
      next = rows;
    } else {
      if (this.keyTick === null || s.base !== this.keyTick) return null;
      next = new Map(this.keyRows);
      for (const key of s.removed) next.delete(key);
      const n = this.fieldNames.length;
      for (const entry of s.changed) {
        const [key, mask, ...values] = entry;
        if (typeof key !== "number") throw new TypeError("a changed row's key is not an integer");
        const row: Value[] = [...(this.keyRows.get(key) ?? new Array<Value>(n).fill(null))];
        let v = 0;
        for (let i = 0; i < n; i++) {
          if (bit(mask, i)) {
            if (v >= values.length) throw new TypeError("a delta names more fields than it carries");
            row[i] = values[v++];
          }
        }
        next.set(key, row);
      }
    }
    this.commit(next, s.globals);
    return { tick: s.tick, keyframe: isKeyframe(s), acks: s.acks };
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
    for (const [key, values] of next) {
      const before = previous.get(key);
      const row: Row = {};
      this.fieldNames.forEach((f, i) => (row[f] = values[i]));
      this.rowObjects.set(key, row);
      if (before === undefined) {
        for (const cb of this.adds) cb(key, row);
        continue;
      }
      if (before === values) continue;
      const changed: string[] = [];
      this.fieldNames.forEach((f, i) => {
        if (!sameValue(before[i], values[i])) changed.push(f);
      });
      if (changed.length === 0) continue;
      for (const cb of this.changes) cb(key, row, changed);
      for (const f of changed) {
        const listeners = this.fieldListeners.get(f);
        if (!listeners) continue;
        const i = this.fieldNames.indexOf(f);
        for (const cb of listeners) cb(key, values[i], before[i]);
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
