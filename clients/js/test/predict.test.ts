// Prediction re-applies the inputs the server has not acknowledged; interpolation blends the
// two snapshots around the render time.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Interpolator, Predictor } from "../src/predict.js";

test("reconciliation keeps unacknowledged inputs", () => {
  const p = new Predictor<number, number>((x, dx, dt) => x + dx * dt, 0.5);
  assert.equal(p.push(1, 2), null, "nothing to predict from yet");
  p.reconcile(0, 0);
  assert.equal(p.state, 1, "input 1 re-applied on the server's state");
  p.push(2, 2);
  p.push(3, 2);
  assert.equal(p.state, 3);
  // The server applied up to seq 2 and says x = 10 (it corrected us): input 3 is re-applied.
  assert.equal(p.reconcile(10, 2), 11);
  assert.equal(p.unacknowledged, 1);
  assert.equal(p.reconcile(11, 3), 11);
  assert.equal(p.unacknowledged, 0);
});

test("interpolation renders between the snapshots around now - delay", () => {
  const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
  const i = new Interpolator<number>(lerp, 100);
  assert.equal(i.sample(0).size, 0);
  i.push(1000, new Map([[1, 0]]));
  i.push(1100, new Map([[1, 10], [2, 5]]));
  assert.equal(i.sample(1150).get(1), 5, "halfway between 1000 and 1100");
  assert.equal(i.sample(1150).get(2), 5, "an entity new in the later snapshot is shown as is");
  assert.equal(i.sample(1050).get(1), 0, "before the oldest: the oldest");
  assert.equal(i.sample(5000).get(1), 10, "after the newest: the newest");
});
