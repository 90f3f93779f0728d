// Drives @tickroom/client (clients/js, built to dist/) against two nodes of a cluster on one
// Redis: a lobby on either node hears a match opened on the other; a player sent to the wrong
// node is told where to go and plays there; an announcement made on one node reaches a player
// and a lobby on the other; a kick made on one node reaches the player on the other; a match
// moved from a to b through the admin API takes its player along (`moved`), with every input
// applied.
//
// Usage: node tickroom-cluster.mjs <node-a-url> <node-b-url> <admin-key>
// (node a's id is node-a). Prints one JSON line with what it saw; exits 1 on failure.
import { connect, elsewhereUrl, Matchmaker, watchLobby } from "../../clients/js/dist/index.js";

const [urlA, urlB, adminKey] = process.argv.slice(2);
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 25_000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const admin = async (url, method, path, body) => {
  const resp = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json() };
};
const once = (emitter, event) => new Promise((resolve) => emitter.on(event, resolve));
const seen = {};

// Lobbies on both nodes; a public match opened through matchmaking lands on one of them, and
// the lobby of the other hears it.
const lobbies = { [urlA]: watchLobby(urlA, { game: "arena" }), [urlB]: watchLobby(urlB, { game: "arena" }) };
await Promise.all(Object.values(lobbies).map((l) => once(l, "matches")));
const host = await new Matchmaker(urlA).create("arena", { maxPlayers: 4 });
await once(host, "welcome");
const owner = host.reservation.url;
const other = owner === urlA ? urlB : urlA;
const otherLobby = lobbies[other];
while (!otherLobby.matches.has(host.reservation.match_id)) await once(otherLobby, "change");
seen.lobby = { match_on: owner === urlA ? "a" : "b", heard_on: other === urlA ? "a" : "b" };
host.close();

// A match on node a, its token from a, offered to node b: `match_elsewhere` with a's URL.
const created = await admin(urlA, "POST", "/admin/matches", { game: "arena", node: "node-a" });
if (created.status !== 201) fail(`create: ${JSON.stringify(created)}`);
const matchId = created.body.id;
const minted = await admin(urlA, "POST", `/admin/matches/${matchId}/tokens`, { player_id: "erin" });
let redirect = null;
for (let i = 0; i < 100 && redirect === null; i++) {
  const wrong = connect(urlB, minted.body.token, { reconnection: false });
  const err = await new Promise((resolve) => {
    wrong.on("error", resolve);
    wrong.on("welcome", () => resolve(null));
  });
  wrong.close();
  if (err === null) fail("node b admitted a player to node a's match");
  if (err.code === "match_elsewhere") redirect = elsewhereUrl(err);
  else if (err.code === "match_not_found") await sleep(50);
  else fail(`unexpected refusal ${err.code}`);
}
if (redirect !== urlA) fail(`sent to ${redirect}, not ${urlA}`);
const erin = connect(redirect, minted.body.token);
const welcome = await once(erin, "welcome");
seen.redirect = { to: "a", match: welcome.match_id === matchId };

// An announcement made on b reaches erin on a and the lobby on b.
const heard = Promise.all([once(erin, "announcement"), once(lobbies[urlB], "announcement")]);
const sent = await admin(urlB, "POST", "/admin/announce", { message: "maintenance at noon" });
if (sent.status !== 200) fail(`announce: ${JSON.stringify(sent)}`);
const [toErin, toLobby] = await heard;
seen.announcement = [toErin.message, toLobby.message];

// A kick made on b reaches erin on a.
const kicked = once(erin, "error");
const closed = once(erin, "disconnect");
const kick = await admin(urlB, "POST", "/admin/players/erin/kick", {});
if (kick.status !== 200) fail(`kick: ${JSON.stringify(kick)}`);
const err = await kicked;
const [reason, reconnecting] = await new Promise((resolve) =>
  closed.then(() => resolve([erin.socket.disconnected ? "closed" : "open", erin.socket.active])),
);
seen.kick = { connections: kick.body.connections, code: err.code, fatal: err.fatal, reason, reconnecting };
// A match on a moved to b through the admin API: its player is sent there, welcomed again,
// and its inputs — those sent around the move too — are all applied: the ack reaches the
// last one sent.
const moving = await admin(urlA, "POST", "/admin/matches", { game: "arena", node: "node-a" });
const fay = connect(urlA, (await admin(urlA, "POST", `/admin/matches/${moving.body.id}/tokens`, { player_id: "fay" })).body.token);
await once(fay, "welcome");
const walk = { dir: [1, 0], buttons: 0 };
for (let i = 0; i < 5; i++) fay.sendInput(walk);
while ((fay.ackFor() ?? 0) < 5) await once(fay, "snapshot");
const movedTo = once(fay, "moved");
const rewelcomed = new Promise((resolve) => fay.on("welcome", resolve));
const move = await admin(urlA, "POST", `/admin/matches/${moving.body.id}/move`, { node: "node-b" });
if (move.status !== 200) fail(`move: ${JSON.stringify(move)}`);
for (let i = 0; i < 5; i++) fay.sendInput(walk);
const movedMsg = await movedTo;
await rewelcomed;
for (let i = 0; i < 5; i++) fay.sendInput(walk);
while ((fay.ackFor() ?? 0) < 15) await once(fay, "snapshot");
seen.move = {
  to: move.body.node,
  client_url: fay.url === urlB && movedMsg.url === urlB,
  acked: fay.ackFor(),
  paused: typeof move.body.paused_ms === "number",
};
fay.close();

for (const l of Object.values(lobbies)) l.close();
console.log(JSON.stringify({ ok: true, ...seen }));
process.exit(0);
