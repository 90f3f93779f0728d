// Drives PLAYERS clients of the Colyseus arena with its official SDK (@colyseus/sdk): joinOrCreate,
// a random walk sent at 30 Hz, for SECONDS after a RAMP spread over RAMP seconds; prints the
// downstream bytes a client received (WebSocket payloads plus frame headers) over the wall time,
// and how many discs a client's state held at the end, on average (its own included: with
// GAME=arena_large on the server, what its StateView lets through).
// Usage: node bots.mjs ws://127.0.0.1:PORT PLAYERS RAMP SECONDS
import { Client } from "@colyseus/sdk";

const [url, n, ramp, duration] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const header = (len) => (len < 126 ? 2 : len < 65536 ? 4 : 10);
let bytes = 0, inputs = 0, joined = 0, failed = 0;
const rooms = [];
const start = Date.now();
for (let i = 0; i < n; i++) {
  setTimeout(async () => {
    try {
      const room = await new Client(url).joinOrCreate("arena");
      joined++;
      rooms.push(room);
      room.connection.transport.ws.addEventListener("message", (ev) => {
        const len = ev.data.byteLength ?? ev.data.length ?? 0;
        bytes += len + header(len);
      });
      let dir = [0, 0];
      const timer = setInterval(() => {
        if (Math.random() < 1 / 30) {
          const a = Math.random() * 2 * Math.PI;
          dir = [Math.cos(a), Math.sin(a)];
        }
        room.send("input", { dir });
        inputs++;
      }, 1000 / 30);
      room.onLeave(() => clearInterval(timer));
    } catch (e) {
      failed++;
    }
  }, (i * ramp * 1000) / n);
}
setTimeout(() => {
  const secs = (Date.now() - start) / 1000;
  const visible = rooms.reduce((n, r) => n + (r.state?.players?.size ?? 0), 0) / Math.max(rooms.length, 1);
  console.log(JSON.stringify({ joined, failed, inputs, secs, players_seen: visible, wire_bytes_per_client_per_sec: bytes / Math.max(joined, 1) / secs }));
  process.exit(0);
}, (ramp + duration) * 1000);
