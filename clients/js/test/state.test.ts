// The state store's callbacks: onAdd / onChange / onRemove / listen / onGlobals fire for
// exactly what changed between two states; quantized numbers come back as numbers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { StateStore } from "../src/state.js";

// id raw; x and y in hundredths.
const schema = [
  ["id", null, null],
  ["x", 0.01, null],
  ["y", 0.01, null],
];

test("callbacks fire for what changed", () => {
  const s = new StateStore();
  const log: string[] = [];
  s.onAdd((k, r) => log.push(`add ${k} ${String(r.id)}`));
  s.onRemove((k) => log.push(`remove ${k}`));
  s.onChange((k, _r, changed) => log.push(`change ${k} ${changed.join(",")}`));
  s.listen("x", (k, v, was) => log.push(`x ${k} ${String(was)}->${String(v)}`));
  s.onGlobals((g) => log.push(`globals ${JSON.stringify(g)}`));

  // keyframe: seat 0 is a (input 0 applied); rows a at (0, 0), b at (5, 5)
  const k = s.apply([1, 0, schema, [0, "a", 0], [1, "a", 0, 0, 2, "b", 500, 500], null]);
  assert.deepEqual(k, { tick: 1, keyframe: true, acks: { a: 0 } });
  assert.deepEqual(log.splice(0), ["add 1 a", "add 2 b"]);
  assert.equal(s.seatOf("a"), 0);

  // b moves in x by 1.25; c joins whole; a's input 1 is applied (one increase per seat, the
  // list as long as the seat table); globals change
  const d = s.apply([2, 1, [1], [2, 0b010, 125, 3, 0b111, "c", 100, 100], [], { round: 1 }]);
  assert.deepEqual(d, { tick: 2, keyframe: false, acks: { a: 1 } });
  assert.deepEqual(log.splice(0), ["change 2 x", "x 2 5->6.25", "add 3 c", 'globals {"round":1}']);
  assert.equal(s.find("id", "c")?.[0], 3);
  assert.equal(s.rows.get(3)?.x, 1);

  // a is removed; b moves back in x and down in y, relative to tick 2; globals unchanged
  s.apply([3, 2, [], [2, 0b110, -125, -300], [1]]);
  assert.deepEqual(log.splice(0), ["remove 1", "change 2 x,y", "x 2 6.25->5"]);
  assert.equal(s.rows.get(2)?.y, 2);
  assert.deepEqual(s.globals, { round: 1 });

  // a delta against another state is skipped, the state stays
  assert.equal(s.apply([4, 99, [], [], [2]]), null);
  assert.equal(s.rows.size, 2);
  assert.deepEqual(log, []);

  // malformed deltas throw and leave the state as it was: a value missing, a new row not
  // whole, an ack for a seat never listed
  assert.throws(() => s.apply([4, 3, [], [2, 0b111, 1], []]));
  assert.throws(() => s.apply([4, 3, [], [9, 0b010, 1], []]));
  assert.throws(() => s.apply([4, 3, [7, 1], [], []]));
  assert.equal(s.rows.get(2)?.y, 2);
  assert.equal(s.tick, 3);
});

test("masks beyond 32 bits, bigints, and numbers that wrap", () => {
  const wide: (string | number | null)[][] = Array.from({ length: 40 }, (_, i) => [`f${i}`, null, null]);
  wide[39] = ["f39", 0.5, 720];
  const s = new StateStore();
  s.apply([1, 0, wide, [], [1, ...wide.map(() => 0)], null]);
  // f39 turns back across 0: -1 from 0 wraps to 719 (359.5)
  s.apply([2, 1, [], [1, 2 ** 39, -1], []]);
  assert.equal(s.rows.get(1)?.f39, 359.5);
  s.apply([3, 2, [], [1, 2n ** 38n, 8], []]);
  assert.equal(s.rows.get(1)?.f38, 8);
  assert.equal(s.rows.get(1)?.f39, 359.5, "relative to the last snapshot");
  s.apply([4, 3, [], [1, 2 ** 39, 2], []]);
  assert.equal(s.rows.get(1)?.f39, 0.5);
});
