// Finds a seat through the matchmaking API with nothing but fetch, redeems it with the
// official socket.io-client + socket.io-msgpack-parser (client defaults: polling, then
// upgrade), and waits until the match's seat table shows `players` seated.
//
// Usage: node matchmake.mjs <server-url> <game> <players>
// Prints one JSON line {ok, match_id, player_id, seats}; exits 0 on success, 1 otherwise.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, game, want] = process.argv.slice(2);
const players = Number(want);
if (!url || !game || !(players > 0)) {
  console.error("usage: node matchmake.mjs <server-url> <game> <players>");
  process.exit(2);
}
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 20000).unref();

const res = await fetch(`${url}/matchmaking/join-or-create`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ game }),
});
const seat = await res.json();
if (res.status !== 200) fail(`join-or-create: ${res.status} ${JSON.stringify(seat)}`);
for (const k of ["url", "match_id", "player_id", "token", "expires"]) {
  if (seat[k] === undefined) fail(`reservation without ${k}: ${JSON.stringify(seat)}`);
}

const socket = io(seat.url, { parser: msgpackParser, reconnection: false, auth: { token: seat.token } });
socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("error", (e) => fail(`error event: ${e.code}`));
socket.on("welcome", (w) => {
  if (w.player_id !== seat.player_id || w.match_id !== seat.match_id) fail(`welcome ${JSON.stringify(w)}`);
});
// A keyframe is [tick, 0, schema, seats, rows, globals]; seats is flat [seat, player, seq, …].
socket.on("s", (s) => { // a snapshot
  if (s[1] !== 0) return;
  const seated = s[3].filter((_, i) => i % 3 === 1);
  if (seated.length >= players) {
    console.log(JSON.stringify({ ok: true, match_id: seat.match_id, player_id: seat.player_id, seats: seated }));
    socket.disconnect();
    process.exit(0);
  }
});
