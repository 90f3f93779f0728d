// Watches the realtime lobby of one node with the official socket.io-client + msgpack parser
// while the node that holds a listed match is killed: the match must be removed from the
// lobby (by the node that runs the queue), though its own node never said so.
//
// Usage: node lobby-orphans.mjs <server-url> <match-id>
// Prints one JSON line; exits 1 on failure.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, matchId] = process.argv.slice(2);
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("the match was never removed"), 25_000).unref();
const lobby = io(`${url}/lobby`, { parser: msgpackParser, reconnection: false });
lobby.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
let listed = false;
let start = 0;
lobby.on("matches", ({ matches }) => {
  listed = matches.some((m) => m.match_id === matchId);
  if (!listed) fail(`${matchId} is not in the lobby: ${JSON.stringify(matches)}`);
  start = Date.now();
  console.error("listed");
});
lobby.on("match_removed", ({ match_id }) => {
  if (match_id !== matchId) return;
  console.log(JSON.stringify({ listed, removed: true, after_ms: Date.now() - start }));
  lobby.close();
  process.exit(0);
});
