// Watches the realtime lobby (namespace /lobby) with the official socket.io-client +
// socket.io-msgpack-parser while it makes changes through the HTTP APIs, and checks that each
// change arrives as its event: a match appears, its seats fill, it goes.
//
// Usage: node lobby.mjs <server-url> <admin-key>
// Prints one JSON line {ok, events}; exits 0 on success, 1 otherwise.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, adminKey] = process.argv.slice(2);
if (!url || !adminKey) {
  console.error("usage: node lobby.mjs <server-url> <admin-key>");
  process.exit(2);
}
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail(`timed out; saw ${JSON.stringify(seen)}`), 20000).unref();

const post = async (path, body) => {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) fail(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};

const seen = [];
// A game the server does not have is refused with its code.
await new Promise((resolve) => {
  const bad = io(`${url}/lobby`, { parser: msgpackParser, reconnection: false, auth: { game: "chess" } });
  bad.on("connect", () => fail("connected to the lobby of an unknown game"));
  bad.on("connect_error", (err) => {
    if (err.message !== "unknown_game") fail(`refused with ${err.message}`);
    seen.push(["refused", err.message]);
    bad.close();
    resolve();
  });
});
const lobby = io(`${url}/lobby`, { parser: msgpackParser, reconnection: false, auth: { game: "arena" } });
lobby.on("connect_error", (err) => fail(`connect_error: ${err.message}`));

// The arena match this script creates; its events may arrive before the answer does.
let created = null;
let matchId = null;
lobby.on("matches", async ({ matches }) => {
  seen.push(["matches", matches.length]);
  if (matches.length !== 0) fail(`expected an empty lobby, got ${JSON.stringify(matches)}`);
  // Another game's match is not this subscriber's business.
  await post("/matchmaking/join-or-create", { game: "tictactoe" });
  created = post("/matchmaking/join-or-create", { game: "arena", labels: { mode: "ffa" } });
});
lobby.on("match_added", async (m) => {
  seen.push(["match_added", m.match_id, m.players]);
  matchId = (await created).match_id;
  if (m.game !== "arena") fail(`a ${m.game} match in the arena lobby`);
  if (m.match_id !== matchId || m.players !== 1 || m.labels.mode !== "ffa") fail(`added ${JSON.stringify(m)}`);
  await post("/matchmaking/join-or-create", { game: "arena", labels: { mode: "ffa" } });
});
lobby.on("match_changed", async (m) => {
  seen.push(["match_changed", m.match_id, m.players]);
  if (m.match_id !== matchId || m.players !== 2) fail(`changed ${JSON.stringify(m)}`);
  const res = await fetch(`${url}/admin/matches/${matchId}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${adminKey}` },
  });
  if (!res.ok) fail(`end: ${res.status}`);
});
lobby.on("match_removed", (m) => {
  seen.push(["match_removed", m.match_id]);
  if (m.match_id !== matchId) fail(`removed ${JSON.stringify(m)}`);
  console.log(JSON.stringify({ ok: true, events: seen }));
  lobby.disconnect();
  process.exit(0);
});
