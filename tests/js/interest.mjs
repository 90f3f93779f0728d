// Interest management seen by three @tickroom/client clients (the official socket.io-client
// underneath) in one "arena_large" match: "walker" walks up to "watcher" and away again;
// "loner" stands far from both. Each client's state must hold only the discs near its own,
// by the server's rule (within 40 to enter, within 50 to stay), checked tick by tick against
// where each disc says it is; a disc entering a view arrives whole (where it is that tick).
//
// Usage: node interest.mjs <server-url> <watcher-token> <walker-token> <loner-token>
// Prints one JSON line with what it saw; exits 1 with a reason on failure.
import { connect } from "../../clients/js/dist/index.js";

const [url, ...tokens] = process.argv.slice(2);
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 25_000).unref();
if (tokens.length !== 3) fail("usage: node interest.mjs <url> <watcher> <walker> <loner>");

const VIEW = 40;
const KEEP = 50;
// Per client: its id, its own disc by tick, what it saw by tick, the ticks it got a keyframe.
const clients = tokens.map((token) => ({ client: connect(url, token), own: new Map(), saw: new Map(), keyframes: 0, snapshots: 0 }));
const [watcher, walker, loner] = clients;
const report = { arrivals: [], removals: 0, otherAcks: 0, violations: [] };
let phase = "approach";

for (const c of clients) {
  c.client.on("error", (e) => fail(`${c.client.playerId}: ${e.code} ${e.message}`));
  c.client.on("snapshot", (s) => {
    c.snapshots++;
    c.keyframes += s.keyframe ? 1 : 0;
    if (Object.keys(s.acks).some((id) => id !== c.client.playerId)) report.otherAcks++;
    const seen = new Map();
    for (const [, row] of c.client.state.rowsOf("player")) seen.set(row.id, [row.x, row.y]);
    c.saw.set(s.tick, seen);
    const mine = seen.get(c.client.playerId);
    if (mine) c.own.set(s.tick, mine);
    if (c === watcher) for (const a of report.arrivals) a.tick ??= s.tick;
    if (c === walker) steer(s.tick);
  });
}

watcher.client.state.onAdd((_key, row) => {
  // The tick is the snapshot's, set once it is applied (rows are added while it is).
  if (row.id === walker.client.playerId) report.arrivals.push({ tick: undefined, x: row.x, y: row.y });
}, false);
watcher.client.state.onRemove((_key, row) => {
  if (row.id === walker.client.playerId) report.removals++;
});

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

// The walker heads for the watcher (whose place it cannot see until near: it reads it from
// the watcher's own client, as a test may), then away from it, then the test ends.
function steer(tick) {
  const me = walker.own.get(tick);
  const target = [...watcher.own.values()].at(-1);
  if (!me || !target) return;
  const d = dist(me, target);
  const toward = [(target[0] - me[0]) / d, (target[1] - me[1]) / d];
  if (phase === "approach" && d < 15) phase = "leave";
  if (phase === "leave" && d > KEEP + 15) return finish();
  const dir = phase === "approach" ? toward : [-toward[0], -toward[1]];
  walker.client.sendInput({ dir, buttons: 1 });
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  // Every tick all three saw: each disc in each view must be there by the rule, and each disc
  // near enough must be. Places are hundredths: a margin of 0.05 on each radius.
  let checked = 0;
  for (const c of clients) {
    for (const [tick, seen] of c.saw) {
      const me = c.own.get(tick);
      if (!me) continue;
      for (const o of clients) {
        if (o === c) continue;
        const at = o.own.get(tick);
        if (!at) continue;
        const d = dist(me, at);
        const has = seen.has(o.client.playerId);
        if (has && d > KEEP + 0.05) report.violations.push({ viewer: c.client.playerId, other: o.client.playerId, tick, d, has });
        if (!has && d < VIEW - 0.05) report.violations.push({ viewer: c.client.playerId, other: o.client.playerId, tick, d, has });
        if (has) {
          const [x, y] = seen.get(o.client.playerId);
          if (x !== at[0] || y !== at[1]) report.violations.push({ viewer: c.client.playerId, other: o.client.playerId, tick, wrongPlace: [x, y, ...at] });
        }
        checked++;
      }
    }
  }
  const first = (c) => [...c.own.values()][0];
  const start = { watcherWalker: dist(first(watcher), first(walker)), watcherLoner: dist(first(watcher), first(loner)), walkerLoner: dist(first(walker), first(loner)) };
  const whole = report.arrivals.map((a) => {
    const at = walker.own.get(a.tick);
    return at !== undefined && at[0] === a.x && at[1] === a.y;
  });
  const lonerSeen = [watcher, walker].some((c) => [...c.saw.values()].some((s) => s.has(loner.client.playerId)));
  console.log(
    JSON.stringify({
      ok: true,
      checked,
      start,
      whole,
      lonerSeen,
      keyframes: clients.map((c) => c.keyframes),
      snapshots: clients.map((c) => c.snapshots),
      ...report,
    }),
  );
  for (const c of clients) c.client.close();
  process.exit(0);
}
