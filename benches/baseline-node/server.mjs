// The arena on a hand-rolled Node.js socket.io server: the baseline Tickroom is measured
// against (docs/BENCHMARKS.md). It speaks Tickroom's wire protocol (docs/PROTOCOL.md) for what
// the load benchmark uses — admin API (create match, mint token), HS256 match tokens in the
// handshake, welcome, input with seq, protocol-5 snapshots: keyframes and deltas against the
// previous snapshot, positions in hundredths, acks by seat — so the same
// bots drive both servers. It plays the same game with the same rules: 30 Hz fixed tick, one
// input per player per tick with the same catch-up (lag 1), discs of radius 2 in a 100×100
// arena, speed 20/s (40 boosted), pairwise separation. `arena_large` is the same game on a map
// whose side grows with the match's seats, where each connection is sent a stream of its own:
// the discs within 40 of its player's (kept until beyond 50; a spectator sees every disc),
// rows entering its view whole and leaving in `removed`, its own seat alone (PROTOCOL.md,
// "Each connection's own snapshots").
//
// Usage: node server.mjs [port]   env TICKROOM_ADMIN_KEY, TICKROOM_TOKEN_SECRET, TICKROOM_TOKEN_ISSUER
import { createServer } from "node:http";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";

const PORT = Number(process.argv[2] ?? 7351);
const ADMIN_KEY = process.env.TICKROOM_ADMIN_KEY ?? "dev-admin-key";
const SECRET = process.env.TICKROOM_TOKEN_SECRET ?? "dev-token-secret-change-me";
const ISSUER = process.env.TICKROOM_TOKEN_ISSUER ?? "tickroom";
const SIZE = 100, RADIUS = 2, SPEED = 20, BOOST = 2;
// arena_large: the view's radius, how far a disc that was in view may go before it leaves,
// and the map's side for n seats (server/games/src/arena/mod.rs, large_size).
const VIEW = 40, KEEP = 50;
const largeSize = (n) => Math.max(SIZE, Math.sqrt((n * Math.PI * VIEW * VIEW) / 12));
const MAX_LAG = 1, KEYFRAME_EVERY = 30, INPUT_BUFFER = 16;

// ---- tokens (HS256 JWT) ----
const b64url = (buf) => Buffer.from(buf).toString("base64url");
function sign(claims) {
  const head = b64url(JSON.stringify({ typ: "JWT", alg: "HS256" }));
  const body = b64url(JSON.stringify(claims));
  const mac = createHmac("sha256", SECRET).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(mac)}`;
}
function verify(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return [null, "token_invalid"];
  const mac = createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== mac.length || !timingSafeEqual(given, mac)) return [null, "token_invalid"];
  let claims;
  try { claims = JSON.parse(Buffer.from(parts[1], "base64url")); } catch { return [null, "token_invalid"]; }
  if (claims.iss !== ISSUER) return [null, "token_invalid"];
  if (claims.exp + 5 < Date.now() / 1000) return [null, "token_expired"];
  return [claims, null];
}

// ---- rooms ----
const matches = new Map();
let nextKey = 1;

function createMatch({ game, match_id, tick_rate, max_players }) {
  if (game !== "arena" && game !== "arena_large") return [null, 422, "unknown_game"];
  const id = match_id ?? randomUUID().replaceAll("-", "");
  if (matches.has(id)) return [null, 409, "match_exists"];
  const maxPlayers = max_players ?? 8;
  const m = {
    id, game, tickRate: tick_rate ?? 30, maxPlayers, tick: 0,
    size: game === "arena_large" ? largeSize(maxPlayers) : SIZE,
    views: game === "arena_large" ? new Map() : null, // socket -> its own stream (viewSnapshot)
    players: new Map(), // id -> { key, seat, x, y, input, seq, queue: [[seq, input]] }
    prev: null, // the room stream's last snapshot (encode's `prev`)
    timer: null,
  };
  matches.set(id, m);
  return [m, 201, null];
}

function view(m) {
  return {
    id: m.id, game: m.game, tick_rate: m.tickRate, max_players: m.maxPlayers,
    state: m.timer ? "running" : "waiting", tick: m.tick,
    players: [...m.players.keys()].sort(), disconnected: [], spectators: 0,
  };
}

// The Rust arena's spawn point: FNV-1a of the id, avalanched with splitmix64's finaliser.
function spawnPoint(id, size) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(id)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  h = BigInt.asUintN(64, (h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n);
  h = BigInt.asUintN(64, (h ^ (h >> 27n)) * 0x94d049bb133111ebn);
  h ^= h >> 31n;
  const span = size - 4 * RADIUS;
  return [2 * RADIUS + (Number(h & 0xffffn) / 65535) * span, 2 * RADIUS + (Number((h >> 16n) & 0xffffn) / 65535) * span];
}

const clamp = (v, size) => Math.min(Math.max(v, RADIUS), size - RADIUS);

function step(m) {
  const dt = 1 / m.tickRate;
  for (const p of m.players.values()) {
    const n = p.queue.length === 0 ? 0 : Math.max(1, p.queue.length - MAX_LAG);
    for (let i = 0; i < n; i++) [p.seq, p.input] = p.queue.shift();
    if (p.input.buttons & 2) continue;
    let [dx, dy] = p.input.dir;
    const len = Math.hypot(dx, dy);
    if (len > 1) { dx /= len; dy /= len; }
    const s = SPEED * (p.input.buttons & 1 ? BOOST : 1) * dt;
    p.x = clamp(p.x + dx * s, m.size);
    p.y = clamp(p.y + dy * s, m.size);
  }
  const all = [...m.players.values()];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i], b = all[j];
      const dx = b.x - a.x, dy = b.y - a.y, d2 = dx * dx + dy * dy, min = 2 * RADIUS;
      if (d2 >= min * min) continue;
      const d = Math.sqrt(d2);
      const [nx, ny] = d > 1e-6 ? [dx / d, dy / d] : [1, 0];
      const push = (min - d) / 2;
      a.x = clamp(a.x - nx * push, m.size); a.y = clamp(a.y - ny * push, m.size);
      b.x = clamp(b.x + nx * push, m.size); b.y = clamp(b.y + ny * push, m.size);
    }
  }
}

// x and y travel as integers of hundredths; deltas carry the difference.
const STEP = 0.01;
// One kind of row, the arena's "player": id raw, x and y quantized (a step of 1/100 travels as
// -100).
const SCHEMA = [["player", ["id", ["x", -1 / STEP], ["y", -1 / STEP]]]];

// One snapshot against `prev` (the last one this stream sent, or null): a keyframe when asked,
// when the seats changed or every KEYFRAME_EVERY ticks, else a delta. `rows`: key -> [id, qx, qy];
// `seats`: [[seat, id, seq]] by seat; `globals` go in keyframes (they never change). Returns the
// snapshot and the stream's new `prev`: { tick, rows, seats, keyTick }.
function encode(prev, tick, rows, seats, forceKey, globals) {
  const keys = [...rows.keys()].sort((a, b) => a - b);
  const seatsChanged = !prev || seats.length !== prev.seats.length
    || seats.some(([s, id], i) => prev.seats[i][0] !== s || prev.seats[i][1] !== id);
  let out;
  if (forceKey || seatsChanged || tick - prev.keyTick >= KEYFRAME_EVERY) {
    out = [tick, 0, SCHEMA, seats.flat(), [keys.flatMap((k) => [k, ...rows.get(k)])], globals];
  } else {
    // [seat, increase] pairs while fewer than half the seats moved, else one increase per seat
    const moved = seats.filter(([, , seq], i) => seq !== prev.seats[i][2]).length;
    const acks = [];
    seats.forEach(([seat, , seq], i) => {
      const increase = seq - prev.seats[i][2];
      if (2 * moved >= seats.length) acks.push(increase);
      else if (increase !== 0) acks.push(seat, increase);
    });
    const changes = [];
    for (const k of keys) {
      const v = rows.get(k), old = prev.rows.get(k);
      if (!old) { changes.push(k, -1, ...v); continue; } // a new row of kind 0, whole
      let mask = 0; const vals = [];
      if (v[0] !== old[0]) { mask |= 1; vals.push(v[0]); }
      for (const i of [1, 2]) if (v[i] !== old[i]) { mask |= 1 << i; vals.push(v[i] - old[i]); }
      if (mask) changes.push(k, mask, ...vals);
    }
    const removed = [...prev.rows.keys()].filter((k) => !rows.has(k)).sort((a, b) => a - b);
    out = [tick, tick - prev.tick, acks, changes, removed]; // its base, as ticks back
  }
  return [out, { tick, rows, seats, keyTick: out[1] === 0 ? tick : prev.keyTick }];
}

const row = (id, p) => [id, Math.round(p.x / STEP), Math.round(p.y / STEP)];

// The room's one stream (arena): every disc and every seat.
function roomSnapshot(m, forceKey) {
  const seats = [];
  const rows = new Map();
  for (const [id, p] of m.players) {
    seats.push([p.seat, id, p.seq]);
    rows.set(p.key, row(id, p));
  }
  seats.sort((a, b) => a[0] - b[0]);
  const [out, prev] = encode(m.prev, m.tick, rows, seats, forceKey, null);
  m.prev = prev;
  return out;
}

// A connection's own stream (arena_large), for `v` = { player, spectator, prev, forceKey }:
// the discs within VIEW of its player's, those it was sent kept until beyond KEEP; its seat alone.
// `grid`: cell "cx,cy" (cells of KEEP) -> the players in it.
function viewSnapshot(m, v, grid) {
  const me = m.players.get(v.player);
  const rows = new Map();
  if (v.spectator || !me) {
    if (v.spectator) for (const [id, p] of m.players) rows.set(p.key, row(id, p));
  } else {
    const [cx, cy] = [Math.floor(me.x / KEEP), Math.floor(me.y / KEEP)];
    for (let gx = cx - 1; gx <= cx + 1; gx++) {
      for (let gy = cy - 1; gy <= cy + 1; gy++) {
        for (const [id, p] of grid.get(`${gx},${gy}`) ?? []) {
          const d2 = (p.x - me.x) ** 2 + (p.y - me.y) ** 2;
          const reach = v.prev?.rows.has(p.key) ? KEEP : VIEW;
          if (d2 <= reach * reach) rows.set(p.key, row(id, p));
        }
      }
    }
  }
  const seats = me && !v.spectator ? [[me.seat, v.player, me.seq]] : [];
  const [out, prev] = encode(v.prev, m.tick, rows, seats, v.forceKey, { size: m.size });
  v.prev = prev;
  v.forceKey = false;
  return out;
}

function start(m) {
  let forceKey = true;
  m.requestKeyframe = () => { forceKey = true; };
  const period = 1000 / m.tickRate;
  let next = performance.now();
  const loop = () => {
    m.tick += 1;
    step(m);
    if (m.views) {
      const grid = new Map();
      for (const [id, p] of m.players) {
        const cell = `${Math.floor(p.x / KEEP)},${Math.floor(p.y / KEEP)}`;
        if (!grid.has(cell)) grid.set(cell, []);
        grid.get(cell).push([id, p]);
      }
      for (const [socket, v] of m.views) socket.emit("s", viewSnapshot(m, v, grid));
    } else {
      io.to(m.id).emit("s", roomSnapshot(m, forceKey)); // a snapshot; socket.io encodes a broadcast once
    }
    forceKey = false;
    next += period;
    m.timer = setTimeout(loop, Math.max(0, next - performance.now()));
  };
  loop();
}

// ---- HTTP admin API ----
function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
const httpServer = createServer((req, res) => {
  if (req.url === "/healthz") return void res.end("ok");
  // socket.io answers its own path before this handler runs; anything else is unknown here.
  if (!req.url.startsWith("/admin/")) return json(res, 404, { error: { code: "not_found", message: req.url } });
  const auth = req.headers.authorization ?? "";
  const want = Buffer.from(`Bearer ${ADMIN_KEY}`);
  const got = Buffer.from(auth);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return json(res, 401, { error: { code: "unauthorized", message: "admin key" } });
  }
  let body = "";
  req.on("data", (c) => { body += c; if (body.length > 65536) req.destroy(); });
  req.on("end", () => {
    let data = {};
    try { data = body ? JSON.parse(body) : {}; } catch { return json(res, 400, { error: { code: "bad_request", message: "json" } }); }
    const tokenPath = req.url.match(/^\/admin\/matches\/([^/]+)\/tokens$/);
    if (req.method === "POST" && req.url === "/admin/matches") {
      const [m, status, code] = createMatch(data);
      return m ? json(res, status, view(m)) : json(res, status, { error: { code, message: code } });
    }
    if (req.method === "POST" && tokenPath) {
      const m = matches.get(tokenPath[1]);
      if (!m) return json(res, 404, { error: { code: "match_not_found", message: "no match" } });
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: ISSUER, sub: data.player_id, mid: m.id, role: data.role ?? "player", iat: now, exp: now + 3600 };
      return json(res, 200, { token: sign(claims), match_id: m.id, player_id: data.player_id, role: claims.role, expires_at: claims.exp });
    }
    json(res, 404, { error: { code: "not_found", message: req.url } });
  });
});

// ---- Socket.IO ----
const io = new Server(httpServer, { parser: msgpackParser, maxHttpBufferSize: 16384, serveClient: false });

io.use((socket, next) => {
  const protocol = socket.handshake.auth?.protocol;
  if (protocol !== undefined && protocol !== 5) return next(new Error("protocol_unsupported"));
  const [claims, code] = verify(socket.handshake.auth?.token);
  if (!claims) return next(new Error(code));
  const m = matches.get(claims.mid);
  if (!m) return next(new Error("match_not_found"));
  if (claims.role === "player" && !m.players.has(claims.sub) && m.players.size >= m.maxPlayers) {
    return next(new Error("match_full"));
  }
  socket.data = { claims, m };
  next();
});

io.on("connection", (socket) => {
  const { claims, m } = socket.data;
  const player = claims.sub;
  socket.emit("welcome", { protocol: 5, match_id: m.id, player_id: player, role: claims.role, game: m.game, tick_rate: m.tickRate, snapshot_rate: m.tickRate, tick: m.tick });
  socket.join(m.id);
  if (claims.role === "player" && !m.players.has(player)) {
    const [x, y] = spawnPoint(player, m.size);
    const taken = new Set([...m.players.values()].map((p) => p.seat));
    let seat = 0;
    while (taken.has(seat)) seat++;
    m.players.set(player, { key: nextKey++, seat, x, y, input: { dir: [0, 0], buttons: 0 }, seq: 0, queue: [] });
    io.to(m.id).emit("presence", { player_id: player, status: "joined", tick: m.tick });
  }
  // A joiner's keyframe: the room's next snapshot (arena), or its own stream's first.
  m.views?.set(socket, { player, spectator: claims.role !== "player", prev: null, forceKey: true });
  if (!m.timer && m.players.size > 0) start(m);
  if (!m.views) m.requestKeyframe?.();
  socket.on("input", (msg) => {
    const p = m.players.get(player);
    if (claims.role !== "player" || !p) return socket.emit("error", { code: "spectator_cannot_act", message: "" });
    const seq = msg?.seq, dir = msg?.input?.dir, buttons = msg?.input?.buttons ?? 0;
    if (!Number.isInteger(seq) || !Array.isArray(dir) || dir.length !== 2 || !dir.every((v) => Number.isFinite(v) && Math.abs(v) <= 1)) {
      return socket.emit("error", { code: "bad_payload", message: "" });
    }
    if (seq <= p.seq || p.queue.some(([s]) => s === seq)) return;
    if (p.queue.length >= INPUT_BUFFER) return;
    p.queue.push([seq, { dir, buttons }]);
    p.queue.sort((a, b) => a[0] - b[0]);
  });
  socket.on("disconnect", () => {
    m.views?.delete(socket);
    if (m.players.delete(player)) io.to(m.id).emit("presence", { player_id: player, status: "left", tick: m.tick });
    if (m.players.size === 0 && m.timer) { clearTimeout(m.timer); m.timer = null; }
  });
});

httpServer.listen(PORT, "127.0.0.1", () => console.log(`baseline listening on 127.0.0.1:${PORT}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => { io.close(); process.exit(0); });
