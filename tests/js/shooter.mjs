// Plays the example shooter (server/examples/shooter) with @tickroom/client (clients/js, on the
// official socket.io-client + socket.io-msgpack-parser): two players; ann flies at bob and
// fires. The state store rebuilds the three kinds — ships, bullets, pickups — from the
// keyframes' schema alone, with no game code.
//
// Ann's client checks her inputs against the shooter's input schema (what
// `shooter-server input-types --json` printed): an input the server would refuse throws
// before it is sent.
//
// Usage: node shooter.mjs <server-url> <token-ann> <token-bob> <input-schemas.json>
// Prints one JSON line with what it saw; exits 1 on failure.
import { readFileSync } from "node:fs";
import { connect, TickroomError } from "../../clients/js/dist/index.js";

const [url, annToken, bobToken, schemasPath] = process.argv.slice(2);
const schemas = JSON.parse(readFileSync(schemasPath, "utf8"));
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail(`timed out: ${JSON.stringify(seen)}`), 25_000).unref();

const ann = connect(url, annToken, { reconnection: false, inputSchema: schemas.shooter });
const bob = connect(url, bobToken, { reconnection: false });
const seen = { kinds: [], bulletsAdded: 0, bulletsRemoved: 0, pickups: 0, ships: 0, bobHp: null, owners: [], errors: [], refusedLocally: null };
try {
  ann.sendInput({ dir: [0, 0], aim: Number.NaN });
} catch (e) {
  if (e instanceof TickroomError) seen.refusedLocally = `${e.code}: ${e.message}`;
}
for (const c of [ann, bob]) c.on("error", (e) => seen.errors.push(e.code));

// Bullets as bob's store sees them: added and removed once each, by kind.
const live = new Map();
bob.state.onAdd((key, row, kind) => {
  if (kind !== "bullet") return;
  if (live.has(key)) fail(`bullet ${key} added twice`);
  live.set(key, row);
  seen.bulletsAdded++;
  seen.owners.push(row.owner);
});
bob.state.onRemove((key, _row, kind) => {
  if (kind !== "bullet") return;
  if (!live.delete(key)) fail(`bullet ${key} removed but never added`);
  seen.bulletsRemoved++;
});
bob.state.listen("hp", (_key, hp, _was, kind) => {
  if (kind === "ship") seen.bobHp = bob.state.find("id", "bob", "ship")?.[1].hp ?? null;
});

ann.on("snapshot", () => {
  const me = ann.state.find("id", "ann", "ship");
  const them = ann.state.find("id", "bob", "ship");
  if (!me || !them) return;
  const [dx, dy] = [them[1].x - me[1].x, them[1].y - me[1].y];
  const dist = Math.hypot(dx, dy);
  const dir = dist > 15 ? [dx / dist, dy / dist] : [0, 0];
  ann.sendInput({ dir, aim: Math.atan2(dy, dx), fire: true });
});

bob.on("snapshot", () => {
  seen.kinds = bob.state.kinds.map((k) => k.name);
  seen.pickups = bob.state.rowsOf("pickup").size;
  seen.ships = bob.state.rowsOf("ship").size;
  const annKey = bob.state.find("id", "ann", "ship")?.[0];
  const hp = bob.state.find("id", "bob", "ship")?.[1].hp;
  if (hp !== undefined) seen.bobHp = hp;
  if (seen.bobHp !== null && seen.bobHp < 100 && seen.bulletsRemoved >= 1 && annKey !== undefined) {
    if (!seen.owners.every((o) => o === annKey)) fail(`bullets not owned by ann's ship ${annKey}: ${seen.owners}`);
    console.log(JSON.stringify({ ok: true, ...seen, owners: undefined }));
    ann.close();
    bob.close();
    process.exit(0);
  }
});
