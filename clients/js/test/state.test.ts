// The state store's callbacks: onAdd / onChange / onRemove / listen / onGlobals fire for
// exactly what changed between two states.
import { test } from "node:test";
import assert from "node:assert/strict";

import { StateStore } from "../src/state.js";

const fields = ["id", "x", "y"];

test("callbacks fire for what changed", () => {
  const s = new StateStore();
  const log: string[] = [];
  s.onAdd((k, r) => log.push(`add ${k} ${String(r.id)}`));
  s.onRemove((k) => log.push(`remove ${k}`));
  s.onChange((k, _r, changed) => log.push(`change ${k} ${changed.join(",")}`));
  s.listen("x", (k, v, was) => log.push(`x ${k} ${String(was)}->${String(v)}`));
  s.onGlobals((g) => log.push(`globals ${JSON.stringify(g)}`));

  s.apply({ tick: 1, acks: { a: 0 }, base: 1, fields, rows: [[1, "a", 0, 0], [2, "b", 5, 5]], globals: null });
  assert.deepEqual(log.splice(0), ["add 1 a", "add 2 b"]);

  // b moves in x; c joins; a is unchanged
  s.apply({ tick: 2, acks: { a: 1 }, base: 1, changed: [[2, 0b010, 6], [3, 0b111, "c", 1, 1]], removed: [], globals: { round: 1 } });
  assert.deepEqual(log.splice(0), ["change 2 x", "x 2 5->6", "add 3 c", 'globals {"round":1}']);
  assert.equal(s.find("id", "c")?.[0], 3);

  // a is removed; b's change is relative to the keyframe again (back to x 5, y 7)
  s.apply({ tick: 3, acks: {}, base: 1, changed: [[2, 0b100, 7], [3, 0b111, "c", 1, 1]], removed: [1], globals: { round: 1 } });
  assert.deepEqual(log.splice(0), ["remove 1", "change 2 x,y", "x 2 6->5"]);

  // a delta for another keyframe is skipped, the state stays
  assert.equal(s.apply({ tick: 4, acks: {}, base: 99, changed: [], removed: [2], globals: null }), null);
  assert.equal(s.rows.size, 2);
  assert.deepEqual(log, []);

  // a malformed delta throws and leaves the state as it was
  assert.throws(() => s.apply({ tick: 5, acks: {}, base: 1, changed: [[2, 0b111, 1]], removed: [], globals: null }));
  assert.equal(s.rows.get(2)?.y, 7);
});

test("masks beyond 32 bits and bigints", () => {
  const wide = Array.from({ length: 40 }, (_, i) => `f${i}`);
  const s = new StateStore();
  s.apply({ tick: 1, acks: {}, base: 1, fields: wide, rows: [[1, ...wide.map(() => 0)]], globals: null });
  s.apply({ tick: 2, acks: {}, base: 1, changed: [[1, 2 ** 39, 9]], removed: [], globals: null });
  assert.equal(s.rows.get(1)?.f39, 9);
  s.apply({ tick: 3, acks: {}, base: 1, changed: [[1, 2n ** 38n, 8]], removed: [], globals: null });
  assert.equal(s.rows.get(1)?.f38, 8);
  assert.equal(s.rows.get(1)?.f39, 0, "relative to the keyframe, not the last delta");
});
