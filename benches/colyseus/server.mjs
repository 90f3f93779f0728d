// The arena on Colyseus 0.18 (benches/colyseus.sh runs it beside Tickroom): each player a disc
// moved by its last input, 30 Hz simulation, patchRate 33 ms, rooms of ROOM_SIZE (default 10).
// GAME=arena_large is Tickroom's arena_large: a map whose side grows with the room (the side of
// ROOM_SIZE × π·40²/12, at least 100: about ten others in view), where each client sees, through its
// own StateView, the discs within 40 of its own (kept until they are 50 away), found through a
// grid of 50-unit cells each simulation tick — the filtering Tickroom's Interest::within does.
// Usage: ROOM_SIZE=10 [GAME=arena_large] node server.mjs [port]
import { Server, Room } from "@colyseus/core";
import { WebSocketTransport } from "@colyseus/ws-transport";
import { schema, t, StateView } from "@colyseus/schema";

const LARGE = process.env.GAME === "arena_large";
if (!LARGE && (process.env.GAME ?? "arena") !== "arena") {
  throw new Error(`GAME must be arena or arena_large, not ${process.env.GAME}`);
}
const RADIUS = 2, SPEED = 20;
const VIEW = 40, KEEP = 50;
const ROOM_SIZE = Number(process.env.ROOM_SIZE ?? 10);
// tickroom_games::arena::large_size
const SIZE = LARGE ? Math.max(100, Math.sqrt((ROOM_SIZE * Math.PI * VIEW * VIEW) / 12)) : 100;
const Player = schema({ x: t.number(), y: t.number() }, "Player");
const State = schema({ players: LARGE ? t.map(Player).view() : t.map(Player) }, "State");
const clamp = (v) => Math.min(Math.max(v, RADIUS), SIZE - RADIUS);
const cellOf = (v) => Math.floor(v / KEEP);
const cellKey = (cx, cy) => cx * 4096 + cy;

class Arena extends Room {
  maxClients = ROOM_SIZE;
  onCreate() {
    this.setState(new State());
    this.setPatchRate(33);
    this.dirs = new Map();
    // sessionId -> the other sessionIds its view holds (LARGE only).
    this.seen = new Map();
    this.onMessage("input", (client, msg) => {
      this.dirs.set(client.sessionId, msg.dir);
    });
    this.setSimulationInterval((dtMs) => {
      const dt = dtMs / 1000;
      this.state.players.forEach((p, id) => {
        const d = this.dirs.get(id);
        if (!d) return;
        p.x = clamp(p.x + d[0] * SPEED * dt);
        p.y = clamp(p.y + d[1] * SPEED * dt);
      });
      if (LARGE) this.updateViews();
    }, 1000 / 30);
  }
  updateViews() {
    const grid = new Map();
    this.state.players.forEach((p, id) => {
      const k = cellKey(cellOf(p.x), cellOf(p.y));
      let cell = grid.get(k);
      if (!cell) grid.set(k, (cell = []));
      cell.push([id, p]);
    });
    for (const client of this.clients) {
      const me = this.state.players.get(client.sessionId);
      const seen = this.seen.get(client.sessionId);
      if (!me || !seen || !client.view) continue;
      const near = new Set();
      const [cx, cy] = [cellOf(me.x), cellOf(me.y)];
      for (let gx = cx - 1; gx <= cx + 1; gx++) {
        for (let gy = cy - 1; gy <= cy + 1; gy++) {
          for (const [id, p] of grid.get(cellKey(gx, gy)) ?? []) {
            if (id === client.sessionId) continue;
            const d2 = (p.x - me.x) ** 2 + (p.y - me.y) ** 2;
            if (d2 <= (seen.has(id) ? KEEP * KEEP : VIEW * VIEW)) near.add(id);
          }
        }
      }
      for (const id of seen) {
        if (near.has(id)) continue;
        const p = this.state.players.get(id);
        if (p) client.view.remove(p);
        seen.delete(id);
      }
      for (const id of near) {
        if (seen.has(id)) continue;
        client.view.add(this.state.players.get(id));
        seen.add(id);
      }
    }
  }
  onJoin(client) {
    const p = new Player();
    p.x = 10 + Math.random() * (SIZE - 20);
    p.y = 10 + Math.random() * (SIZE - 20);
    this.state.players.set(client.sessionId, p);
    if (LARGE) {
      client.view = new StateView();
      client.view.add(p);
      this.seen.set(client.sessionId, new Set());
    }
  }
  onLeave(client) {
    this.state.players.delete(client.sessionId);
    this.dirs.delete(client.sessionId);
    if (LARGE) {
      this.seen.delete(client.sessionId);
      for (const s of this.seen.values()) s.delete(client.sessionId);
      client.view?.dispose();
    }
  }
}

const port = Number(process.argv[2] ?? 2567);
const gameServer = new Server({ transport: new WebSocketTransport() });
gameServer.define("arena", Arena);
await gameServer.listen(port, "127.0.0.1");
console.log(`colyseus listening on ${port} (${LARGE ? "arena_large, StateView" : "arena"})`);
