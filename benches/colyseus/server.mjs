// The arena on Colyseus 0.18 (benches/colyseus.sh runs it beside Tickroom): each player a disc
// moved by its last input, 30 Hz simulation, patchRate 33 ms, rooms of ROOM_SIZE (default 10).
// Usage: ROOM_SIZE=10 node server.mjs [port]
import { Server, Room } from "@colyseus/core";
import { WebSocketTransport } from "@colyseus/ws-transport";
import { schema, t } from "@colyseus/schema";

const SIZE = 100, RADIUS = 2, SPEED = 20;
const ROOM_SIZE = Number(process.env.ROOM_SIZE ?? 10);
const Player = schema({ x: t.number(), y: t.number() }, "Player");
const State = schema({ players: t.map(Player) }, "State");
const clamp = (v) => Math.min(Math.max(v, RADIUS), SIZE - RADIUS);

class Arena extends Room {
  maxClients = ROOM_SIZE;
  onCreate() {
    this.setState(new State());
    this.setPatchRate(33);
    this.dirs = new Map();
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
    }, 1000 / 30);
  }
  onJoin(client) {
    const p = new Player();
    p.x = 10 + Math.random() * 80;
    p.y = 10 + Math.random() * 80;
    this.state.players.set(client.sessionId, p);
  }
  onLeave(client) {
    this.state.players.delete(client.sessionId);
    this.dirs.delete(client.sessionId);
  }
}

const port = Number(process.argv[2] ?? 2567);
const gameServer = new Server({ transport: new WebSocketTransport() });
gameServer.define("arena", Arena);
await gameServer.listen(port, "127.0.0.1");
console.log(`colyseus listening on ${port}`);
