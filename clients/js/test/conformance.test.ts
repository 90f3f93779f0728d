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
  globals: unknown;
}

interface Vectors {
  /** Each kind's name and fields, a field as `[name, step, modulo]`. */
  kinds: { name: string; fields: [string, number | null, number | null][] }[];
  frames: { msgpack: string; expect: Expect | null }[];
}

const vectors = JSON.parse(readFileSync("test/vectors/snapshots.json", "utf8")) as Vectors;

test("every snapshot rebuilds the state the Rust encoder encoded", () => {
  const store = new StateStore();
  let added: number[] = [];
  store.onAdd((key) => added.push(key));
  let checked = 0;
  let deltas = 0;
  for (const [i, frame] of vectors.frames.entries()) {
    const msg = decode(Buffer.from(frame.msgpack, "hex")) as SnapshotMsg;
    added = [];
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
    assert.deepEqual(store.globals, frame.expect.globals);
    checked++;
    if (!applied.keyframe) deltas++;
  }
  assert.ok(checked > 100, `${checked} states checked`);
  assert.ok(deltas > 50, `${deltas} of them from deltas`);
});
