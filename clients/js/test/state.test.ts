// The state store's callbacks: onAdd / onChange / onRemove / listen / onGlobals fire for
// exactly what changed between two states; quantized numbers come back as numbers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { StateStore } from "../src/state.js";

// One kind, "player": id raw; x and y in hundredths — x's step as the server writes it, -100
// (a step of 1/100), y's as a number.
const fields = ["id", ["x", -100], ["y", 0.01]];
const schema = [["player", fields]];

test("callbacks fire for what changed", () => {
  const s = new StateStore();
  const log: string[] = [];
  s.onAdd((k, r) => log.push(`add ${k} ${String(r.id)}`));
  s.onRemove((k) => log.push(`remove ${k}`));
  s.onChange((k, _r, changed) => log.push(`change ${k} ${changed.join(",")}`));
  s.listen("x", (k, v, was) => log.push(`x ${k} ${String(was)}->${String(v)}`));
  s.onGlobals((g) => log.push(`globals ${JSON.stringify(g)}`));

  // keyframe: seat 0 is a (input 0 applied); rows a at (0, 0), b at (5, 5)
  const k = s.apply([1, 0, schema, [0, "a", 0], [[1, "a", 0, 0, 2, "b", 500, 500]], null]);
  assert.deepEqual(k, { tick: 1, keyframe: true, acks: { a: 0 } });
  assert.deepEqual(log.splice(0), ["add 1 a", "add 2 b"]);
  assert.equal(s.seatOf("a"), 0);

  // b moves in x by 1.25; c joins whole (mask -1: a new row of kind 0); a's input 1 is applied
  // (one increase per seat, the list as long as the seat table); globals change
  const d = s.apply([2, 1, [1], [2, 0b010, 125, 3, -1, "c", 100, 100], [], { round: 1 }]);
  assert.deepEqual(d, { tick: 2, keyframe: false, acks: { a: 1 } });
  assert.deepEqual(log.splice(0), ["change 2 x", "x 2 5->6.25", "add 3 c", 'globals {"round":1}']);
  assert.equal(s.find("id", "c")?.[0], 3);
  assert.equal(s.rows.get(3)?.x, 1);

  // a is removed; b moves back in x and down in y, relative to tick 2; globals unchanged
  s.apply([3, 1, [], [2, 0b110, -125, -300], [1]]);
  assert.deepEqual(log.splice(0), ["remove 1", "change 2 x,y", "x 2 6.25->5"]);
  assert.equal(s.rows.get(2)?.y, 2);
  assert.deepEqual(s.globals, { round: 1 });

  // a delta against another state is skipped, the state stays
  assert.equal(s.apply([4, 2, [], [], [2]]), null);
  assert.equal(s.rows.size, 2);
  assert.deepEqual(log, []);

  // malformed deltas throw and leave the state as it was: a value missing, a change to a row
  // not held, a new row cut short, a kind never listed, an empty mask, a key changed and
  // removed, an ack for a seat never listed, a base at or before tick 0
  assert.throws(() => s.apply([4, 1, [], [2, 0b111, 1], []]));
  assert.throws(() => s.apply([4, 4, [], [], []]));
  assert.throws(() => s.apply([4, -1, [], [], []]));
  assert.throws(() => s.apply([4, 1, [], [9, 0b010, 1], []]));
  assert.throws(() => s.apply([4, 1, [], [9, -1, "z", 1], []]));
  assert.throws(() => s.apply([4, 1, [], [9, -2, "z", 1, 1], []]));
  assert.throws(() => s.apply([4, 1, [], [2, 0], []]));
  assert.throws(() => s.apply([4, 1, [], [2, 0b010, 1], [2]]));
  assert.throws(() => s.apply([4, 1, [7, 1], [], []]));
  assert.equal(s.rows.get(2)?.y, 2);
  assert.equal(s.tick, 3);
});

test("a schema's fields: names, [name, step], [name, step, modulo]; anything else is refused", () => {
  const s = new StateStore();
  s.apply([1, 0, [["p", ["id", ["x", -100], ["a", 0.3, 4]]]], [], [[1, "a", 35, 1]], null]);
  // 35 hundredths: the decimal 0.35 (a step of 1/100 from -100, then a division)
  assert.deepEqual(s.rows.get(1), { id: "a", x: 0.35, a: 0.3 });
  const bad = [["x"], ["x", null], ["x", "5"], ["x", 0], ["x", -1.5], ["x", 0.5, 0], ["x", 0.5, 1, 2], [5, 0.5], 7, null];
  for (const field of bad) {
    assert.throws(() => s.apply([2, 0, [["p", [field]]], [], [[1, 0]], null]), TypeError, JSON.stringify(field));
  }
  assert.equal(s.tick, 1);
  assert.equal(s.rows.get(1)?.x, 0.35);
});

test("masks beyond 32 bits, bigints, and numbers that wrap", () => {
  const wide: (string | (string | number)[])[] = Array.from({ length: 40 }, (_, i) => `f${i}`);
  wide[39] = ["f39", 0.5, 720];
  const s = new StateStore();
  s.apply([1, 0, [["wide", wide]], [], [[1, ...wide.map(() => 0)]], null]);
  // f39 turns back across 0: -1 from 0 wraps to 719 (359.5)
  s.apply([2, 1, [], [1, 2 ** 39, -1], []]);
  assert.equal(s.rows.get(1)?.f39, 359.5);
  s.apply([3, 1, [], [1, 2n ** 38n, 8], []]);
  assert.equal(s.rows.get(1)?.f38, 8);
  assert.equal(s.rows.get(1)?.f39, 359.5, "relative to the last snapshot");
  s.apply([4, 1, [], [1, 2 ** 39, 2], []]);
  assert.equal(s.rows.get(1)?.f39, 0.5);
});

test("several kinds: each row keeps its kind, a key taken over is a new row", () => {
  const s = new StateStore();
  const log: string[] = [];
  s.onAdd((k, r, kind) => log.push(`add ${kind} ${k} ${JSON.stringify(r)}`));
  s.onRemove((k, _r, kind) => log.push(`remove ${kind} ${k}`));
  s.onChange((k, _r, changed, kind) => log.push(`change ${kind} ${k} ${changed.join(",")}`));
  const kinds = [
    ["player", ["id", ["x", -2]]],
    ["bullet", [["x", -2]]],
    ["pickup", ["ready"]],
  ];
  // player 1 at x 1; bullet 2 at x 3; pickup 3 ready
  s.apply([1, 0, kinds, [], [[1, "a", 2], [2, 6], [3, true]], null]);
  assert.deepEqual(log.splice(0), [
    'add player 1 {"id":"a","x":1}',
    'add bullet 2 {"x":3}',
    'add pickup 3 {"ready":true}',
  ]);
  assert.deepEqual(s.kinds.map((k) => k.name), ["player", "bullet", "pickup"]);
  assert.deepEqual(s.fieldsOf("player"), ["id", "x"]);
  assert.equal(s.kindOf(2), "bullet");
  // the bullet moves; a new bullet 4 appears (kind 1: mask -2); the pickup is taken
  s.apply([2, 1, [], [2, 1, 2, 3, 1, false, 4, -2, 10], []]);
  assert.deepEqual(log.splice(0), ["change bullet 2 x", "change pickup 3 ready", 'add bullet 4 {"x":5}']);
  // bullet 2 is gone and its key is a new bullet's at once: a removal, then an addition
  s.apply([3, 1, [], [2, -2, 0], []]);
  assert.deepEqual(log.splice(0), ["remove bullet 2", 'add bullet 2 {"x":0}']);
  assert.deepEqual([...s.rowsOf("bullet").keys()], [2, 4]);
  assert.equal(s.find("ready", false, "pickup")?.[0], 3);
  assert.equal(s.find("x", 0, "player"), undefined);
  // a keyframe with the key under another kind: removed as a bullet, added as a pickup
  s.apply([4, 0, kinds, [], [[1, "a", 2], [4, 10], [2, true, 3, false]], null]);
  assert.deepEqual(log.splice(0), ["remove bullet 2", 'add pickup 2 {"ready":true}']);
});
