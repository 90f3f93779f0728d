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
  auth: { token, protocol: 5 },
});

// Rebuilds full state from keyframes and deltas (docs/PROTOCOL.md, "snapshot"), written from
// the document alone: a keyframe is [tick, 0, schema, seats, rows, globals] with one entry of
// `schema` and one list of `rows` per kind, a delta [tick, back, acks, changes, removed,
// globals?] against the snapshot of tick `tick - back`.
let state = null; // { tick, schema: [[kind, [[name, step, modulo]]]], seats: Map<seat, [player, seq]>, rows: Map<key, {kind, values}> }
// A keyframe's field: a raw field's name, or [name, step] / [name, step, modulo] where a step
// of 1/n travels as -n; held as [name, step, modulo] with nulls.
const fieldOf = (f) => (typeof f === "string" ? [f, null, null] : [f[0], f[1] < 0 ? 1 / -f[1] : f[1], f[2] ?? null]);
function rebuild(s) {
  const [tick, back] = s;
  if (back === 0) {
    const [, , sent, seats, perKind] = s;
    const schema = sent.map(([kind, fields]) => [kind, fields.map(fieldOf)]);
    const rows = new Map();
    schema.forEach(([, fields], kind) => {
      const n = fields.length;
      const flat = perKind[kind];
      for (let i = 0; i < flat.length; i += n + 1) rows.set(flat[i], { kind, values: flat.slice(i + 1, i + 1 + n) });
    });
    const seatMap = new Map();
    for (let i = 0; i < seats.length; i += 3) seatMap.set(seats[i], [seats[i + 1], seats[i + 2]]);
    state = { tick, schema, seats: seatMap, rows };
    return state;
  }
  if (!state || tick - back !== state.tick) return null; // a snapshot was missed: wait for a keyframe
  const [, , acks, changes, removed] = s;
  if (acks.length > 0 && acks.length === state.seats.size) {
    // one increase per seat, in seat order
    [...state.seats.keys()].sort((a, b) => a - b).forEach((seat, i) => (state.seats.get(seat)[1] += acks[i]));
  } else {
    for (let i = 0; i < acks.length; i += 2) state.seats.get(acks[i])[1] += acks[i + 1]; // [seat, increase] pairs
  }
  for (let i = 0; i < changes.length; ) {
    const key = changes[i++];
    const mask = changes[i++];
    if (mask < 0) {
      // a new row of kind -(mask + 1): every field, whole
      const kind = -mask - 1;
      const n = state.schema[kind][1].length;
      state.rows.set(key, { kind, values: changes.slice(i, i + n) });
      i += n;
      continue;
    }
    const row = state.rows.get(key);
    state.schema[row.kind][1].forEach(([, step, modulo], f) => {
      if (Math.floor(mask / 2 ** f) % 2 !== 1) return;
      const v = changes[i++];
      if (step === null) row.values[f] = v; // raw values come whole
      else row.values[f] = modulo === null ? row.values[f] + v : (((row.values[f] + v) % modulo) + modulo) % modulo;
    });
  }
  for (const key of removed) state.rows.delete(key);
  state.tick = tick;
  return state;
}
function players({ schema, rows }) {
  const kind = schema.findIndex(([name]) => name === "player");
  const fields = schema[kind][1];
  const field = (name) => fields.findIndex(([n]) => n === name);
  const value = (r, f) => (fields[f][1] === null ? r.values[f] : r.values[f] * fields[f][1]);
  const [id, x, y] = ["id", "x", "y"].map(field);
  return [...rows.values()].filter((r) => r.kind === kind).map((r) => ({ id: r.values[id], x: value(r, x), y: value(r, y) }));
}
function ackOf(player) {
  for (const [id, seq] of state.seats.values()) if (id === player) return seq;
  return undefined;
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
  if (w.protocol !== 5 || w.role !== "player" || typeof w.tick_rate !== "number") {
    fail(`bad welcome ${JSON.stringify(w)}`);
  }
});

socket.on("s", (s) => {
  if (!welcome) fail("snapshot before welcome");
  const tick = s[0];
  if (typeof tick !== "number" || tick <= lastTick) fail(`bad tick ${tick} after ${lastTick}`);
  if (s[1] !== 0) deltas += 1;
  lastTick = tick;
  snapshots += 1;
  if (!rebuild(s)) return;
  const me = players(state).find((p) => p.id === welcome.player_id);
  if (!me) return; // the entity appears on the tick after the join
  if (firstX === null) {
    firstX = me.x;
    // Move right: seq 1..INPUTS, all at once (the server applies what has arrived at each tick).
    for (let seq = 1; seq <= INPUTS; seq++) {
      socket.emit("input", { seq, input: { dir: [1, 0], buttons: 0 } });
    }
    return;
  }
  const ack = ackOf(welcome.player_id);
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
