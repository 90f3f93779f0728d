// Drives @tickroom/client's matchmaking (clients/js, built to dist/) from Node against a real
// server: two queued players of close rating meet and are welcomed; a private match is
// joined by its code; the lobby sees a public match appear and fill.
//
// Usage: node tickroom-matchmaking.mjs <server-url>
// Prints one JSON line with what it saw; exits 1 on failure.
import { Matchmaker, MatchmakingError, watchLobby } from "../../clients/js/dist/index.js";

const [url] = process.argv.slice(2);
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 25_000).unref();
const welcomed = (client) =>
  new Promise((resolve, reject) => {
    client.on("welcome", resolve);
    client.on("error", (e) => reject(new Error(e.code)));
  });
const seen = {};

// The queue: 1500 and 1540 meet in a tictactoe match.
const statuses = [];
const [a, b] = await Promise.all([
  new Matchmaker(url).queue("tictactoe", { rating: 1500 }, (t) => statuses.push(t.status)),
  new Matchmaker(url).queue("tictactoe", { rating: 1540 }),
]);
if (a.reservation.match_id !== b.reservation.match_id) fail("queued players in different matches");
const [wa, wb] = await Promise.all([welcomed(a), welcomed(b)]);
if (wa.match_id !== wb.match_id) fail("welcomed into different matches");
seen.queue = { match: wa.match_id, statuses: [...new Set(statuses)] };
a.close();
b.close();

// A private match, joined by its code; not listed.
const host = new Matchmaker(url);
const room = await host.create("arena", { private: true, maxPlayers: 2 });
await welcomed(room);
const friend = await new Matchmaker(url).joinByCode(room.reservation.code.toLowerCase());
await welcomed(friend);
if (friend.reservation.match_id !== room.reservation.match_id) fail("code led elsewhere");
try {
  await new Matchmaker(url).reserveJoinByCode(room.reservation.code);
  fail("a third player got into a full match of two");
} catch (e) {
  if (!(e instanceof MatchmakingError) || e.code !== "match_full") throw e;
}
const listed = await host.listMatches({ game: "arena" });
if (listed.some((m) => m.match_id === room.reservation.match_id)) fail("a private match is listed");
seen.private = { code: room.reservation.code, refused: "match_full" };

// The lobby: a public match appears, then fills.
const lobby = watchLobby(url, { game: "arena" });
const events = [];
await new Promise((resolve) => lobby.on("matches", resolve));
let publicMatch = null;
const filled = new Promise((resolve) =>
  lobby.on("change", () => {
    const m = publicMatch && lobby.matches.get(publicMatch);
    if (m) events.push(m.players);
    if (m && m.players === 2) resolve();
  }),
);
const first = await new Matchmaker(url).joinOrCreate("arena", { labels: { mode: "lobby-test" } });
publicMatch = first.reservation.match_id;
await welcomed(first);
const second = await new Matchmaker(url).joinOrCreate("arena", { labels: { mode: "lobby-test" } });
if (second.reservation.match_id !== publicMatch) fail("join-or-create opened a second match");
await filled;
seen.lobby = { match: publicMatch, players: events };
lobby.close();
for (const c of [room, friend, first, second]) c.close();
console.log(JSON.stringify({ ok: true, ...seen }));
process.exit(0);
