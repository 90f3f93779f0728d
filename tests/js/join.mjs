// Joins a Tickroom match with the official socket.io-client + socket.io-msgpack-parser,
// sends inputs, and checks that snapshots acknowledge them and move the player.
//
// Usage: node join.mjs <server-url> <token> <websocket|polling> [expected-refusal-code]
// With an expected refusal code, succeeds only if the handshake is refused with that code
// (socket.io-client reports the CONNECT_ERROR message as `err.message`).
// Prints one JSON line with what it saw; exits 0 on success, 1 with a reason otherwise.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, token, transport, expectRefusal] = process.argv.slice(2);
if (!url || !token || !["websocket", "polling"].includes(transport)) {
  console.error("usage: node join.mjs <server-url> <token> <websocket|polling>");
  process.exit(2);
}

const INPUTS = 5;
const fail = (why) => {
  console.error(`FAIL (${transport}): ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 15000).unref();

const socket = io(url, {
  parser: msgpackParser,
  transports: [transport],
  upgrade: false,
  reconnection: false,
  auth: { token, protocol: 1 },
});

// Rebuilds full state from keyframes and deltas (docs/PROTOCOL.md, "snapshot").
let keyframe = null; // { tick, fields, rows: Map<key, values[]> }
function rebuild(s) {
  if (s.fields) {
    keyframe = { tick: s.tick, fields: s.fields, rows: new Map(s.rows.map(([k, ...v]) => [k, v])) };
    return new Map(keyframe.rows);
  }
  if (!keyframe || s.base !== keyframe.tick) return null; // wait for a keyframe
  const rows = new Map(keyframe.rows);
  for (const k of s.removed) rows.delete(k);
  for (const [k, mask, ...values] of s.changed) {
    const row = [...(rows.get(k) ?? keyframe.fields.map(() => null))];
    let next = 0;
    keyframe.fields.forEach((_, i) => {
      if (Math.floor(mask / 2 ** i) % 2 === 1) row[i] = values[next++];
    });
    rows.set(k, row);
  }
  return rows;
}
function players(rows) {
  const [id, x, y] = ["id", "x", "y"].map((f) => keyframe.fields.indexOf(f));
  return [...rows.values()].map((r) => ({ id: r[id], x: r[x], y: r[y] }));
}

let welcome = null;
let firstX = null;
let snapshots = 0;
let deltas = 0;
let lastTick = 0;

socket.on("connect_error", (err) => {
  if (expectRefusal && err.message === expectRefusal) {
    console.log(JSON.stringify({ ok: true, transport, refused: err.message }));
    process.exit(0);
  }
  fail(`connect_error: ${err.message}`);
});
socket.on("connect", () => {
  if (expectRefusal) fail(`connected, expected refusal ${expectRefusal}`);
});
socket.on("error", (e) => fail(`error event: ${e.code}`));

socket.on("welcome", (w) => {
  if (welcome) fail("second welcome");
  if (snapshots > 0) fail("snapshot before welcome");
  welcome = w;
  if (w.protocol !== 1 || w.role !== "player" || typeof w.tick_rate !== "number") {
    fail(`bad welcome ${JSON.stringify(w)}`);
  }
});

socket.on("snapshot", (s) => {
  if (!welcome) fail("snapshot before welcome");
  if (typeof s.tick !== "number" || s.tick <= lastTick) fail(`bad tick ${s.tick} after ${lastTick}`);
  if (!s.fields) deltas += 1;
  lastTick = s.tick;
  snapshots += 1;
  const rows = rebuild(s);
  if (!rows) return;
  const me = players(rows).find((p) => p.id === welcome.player_id);
  if (!me) return; // the entity appears on the tick after the join
  if (firstX === null) {
    firstX = me.x;
    // Move right: seq 1..INPUTS, all at once (the server applies what has arrived at each tick).
    for (let seq = 1; seq <= INPUTS; seq++) {
      socket.emit("input", { seq, input: { dir: [1, 0], buttons: 0 } });
    }
    return;
  }
  const ack = s.acks[welcome.player_id];
  // All inputs may be applied in the tick after they arrive; keep going until state has been
  // rebuilt from at least one delta too (the next snapshot after a keyframe).
  if (ack >= INPUTS && deltas > 0) {
    if (!(me.x > firstX)) fail(`did not move: ${firstX} -> ${me.x}`);
    const transportName = socket.io.engine.transport.name;
    if (transportName !== transport) fail(`used ${transportName}, not ${transport}`);
    console.log(
      JSON.stringify({ ok: true, transport: transportName, player: welcome.player_id, ack, fromX: firstX, toX: me.x, snapshots, deltas }),
    );
    socket.disconnect();
    process.exit(0);
  }
});
