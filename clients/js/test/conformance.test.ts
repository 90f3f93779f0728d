// The state store against the conformance vectors the Rust encoder generates
// (tests/tests/js_package/generated.rs): the same snapshots, missed ones included, must
// rebuild the same state the Rust client rebuilds and the server encoded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decode } from "notepack.io";

import { StateStore, type SnapshotMsg } from "../src/state.js";

interface Expect {
  tick: number;
  keyframe: boolean;
  acks: Record<string, number>;
  /** `[key, kind, ...the kind's values]`, by key. */
  rows: unknown[][];
  /** The keys a client reports added on this snapshot. */
  added: number[];
  /** The keys a client reports removed on this snapshot (the view vectors list them). */
  removed?: number[];
  globals: unknown;
}

interface Vectors {
  /** Each kind's name and fields, a field as `[name, step, modulo]`. */
  kinds: { name: string; fields: [string, number | null, number | null][] }[];
  frames: { msgpack: string; expect: Expect | null }[];
}

/**
 * Applies every frame of `file` to a new store and checks each state, and the rows added
 * (and, where listed, removed), against what the Rust encoder encoded; returns how many
 * states were checked, and how many of them came from deltas.
 */
function checkStream(file: string): { checked: number; deltas: number; removed: number } {
  const vectors = JSON.parse(readFileSync(file, "utf8")) as Vectors;
  const store = new StateStore();
  let added: number[] = [];
  let removed: number[] = [];
  store.onAdd((key) => added.push(key));
  store.onRemove((key) => removed.push(key));
  let checked = 0;
  let deltas = 0;
  let removedInDeltas = 0;
  for (const [i, frame] of vectors.frames.entries()) {
    const msg = decode(Buffer.from(frame.msgpack, "hex")) as SnapshotMsg;
    added = [];
    removed = [];
    const applied = store.apply(msg);
    if (frame.expect === null) {
      assert.equal(applied, null, `frame ${i}: a delta without its keyframe is skipped`);
      continue;
    }
    assert.ok(applied, `frame ${i}: applied`);
    assert.equal(applied.tick, frame.expect.tick);
    assert.equal(applied.keyframe, frame.expect.keyframe);
    assert.deepEqual(applied.acks, frame.expect.acks);
    assert.deepEqual(
      store.kinds.map((k) => ({
        name: k.name,
        fields: k.fields.map((f) => [f.name, f.step, f.modulo]),
      })),
      vectors.kinds,
    );
    const rows = [...store.rows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([key, row]) => {
        const kind = store.kindOf(key)!;
        return [key, kind, ...store.fieldsOf(kind).map((f) => row[f])];
      });
    assert.deepEqual(rows, frame.expect.rows, `frame ${i} (tick ${frame.expect.tick})`);
    assert.deepEqual(added.sort((a, b) => a - b), frame.expect.added, `frame ${i}: rows added`);
    if (frame.expect.removed !== undefined) {
      assert.deepEqual(removed.sort((a, b) => a - b), frame.expect.removed, `frame ${i}: rows removed`);
      if (!applied.keyframe) removedInDeltas += removed.length;
    }
    assert.deepEqual(store.globals, frame.expect.globals);
    checked++;
    if (!applied.keyframe) deltas++;
  }
  return { checked, deltas, removed: removedInDeltas };
}

test("every snapshot rebuilds the state the Rust encoder encoded", () => {
  const { checked, deltas } = checkStream("test/vectors/snapshots.json");
  assert.ok(checked > 100, `${checked} states checked`);
  assert.ok(deltas > 50, `${deltas} of them from deltas`);
});

test("a viewer's own stream: rows entering its view are added whole, leaving ones removed", () => {
  const { checked, deltas, removed } = checkStream("test/vectors/views.json");
  assert.ok(checked > 100, `${checked} states checked`);
  assert.ok(deltas > 50, `${deltas} of them from deltas`);
  assert.ok(removed > 20, `${removed} rows left the view in deltas`);
});
