// Drives @tickroom/client (clients/js, built to dist/) from Node: joins, plays, and — when the
// test cuts the network (after this prints READY) — reconnects by itself with the same token
// and finds its seat (the same row) and its input numbering (acks keep growing) again.
//
// Usage: node tickroom-client.mjs <server-url> <token>
// Prints READY once playing, then one JSON line with what it saw; exits 1 on failure.
import { connect } from "../../clients/js/dist/index.js";

const [url, token] = process.argv.slice(2);
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30_000).unref();

const client = connect(url, token, { io: { reconnectionDelay: 200, reconnectionDelayMax: 500 } });
const seen = { welcomes: 0, player: null, keyBefore: null, keyAfter: null, ackBefore: 0, ackAfter: 0, disconnects: [], errors: [] };
let phase = "playing";
client.on("welcome", (w) => {
  seen.welcomes++;
  seen.player = w.player_id;
  if (seen.welcomes === 2) phase = "back";
});
client.on("error", (e) => seen.errors.push(e.code));
client.on("disconnect", (reason, reconnecting) => seen.disconnects.push({ reason, reconnecting }));
client.on("snapshot", (s) => {
  const mine = client.state.find("id", client.playerId);
  const ack = s.acks[client.playerId] ?? 0;
  if (phase === "playing") {
    if (ack < 3) {
      client.sendInput({ dir: [1, 0], buttons: 0 });
    } else {
      seen.keyBefore = mine?.[0] ?? null;
      seen.ackBefore = ack;
      phase = "waiting";
      console.log("READY");
    }
  } else if (phase === "back") {
    if (seen.ackAfter === 0) for (let i = 0; i < 3; i++) client.sendInput({ dir: [0, 1], buttons: 0 });
    seen.keyAfter = mine?.[0] ?? null;
    seen.ackAfter = ack;
    if (ack > seen.ackBefore) {
      console.log(JSON.stringify({ ok: true, ...seen }));
      client.close();
      process.exit(0);
    }
  }
});
