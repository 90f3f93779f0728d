// The arena in a browser: the own disc predicted from its inputs and reconciled with the
// server's acks, the others interpolated between snapshots. Finds its seat through
// matchmaking (join or create an open demo arena, as an anonymous player — the development
// keys allow it), or joins a friend's match by its code (#code=ABC123), or uses a token from
// the page's URL: #token=<JWT>&server=<url>. #game=arena_large plays the arena on its large
// map, where the server sends each player only the discs within its view: the board then
// follows the own disc and draws the view's edge.
import { connect, Interpolator, Matchmaker, Predictor } from "./tickroom.js";

// The arena's rules (server/games/src/arena/mod.rs), for prediction.
const RADIUS = 2, SPEED = 20, BOOST = 2, BUTTON_BOOST = 1, BUTTON_BRAKE = 2;
// The map's side (on arena_large, whose players see LARGE_VIEW around them, the globals say
// it: it grows with the match's seats) and the view's radius.
const MAPS = { arena: { size: 100, view: null }, arena_large: { size: 400, view: 40 } };
// How much of the map the board shows: all of the arena's; on the large map, a window this
// wide around the own disc (the view's whole disc and a margin).
const WINDOW = 100;
let map = MAPS.arena;

const params = new URLSearchParams(location.hash.slice(1));
const server = params.get("server") ?? location.origin;
const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "err" : "";
};

async function join() {
  if (params.get("token")) return connect(server, params.get("token"));
  const mm = new Matchmaker(server);
  const client = params.get("code")
    ? await mm.joinByCode(params.get("code"))
    : await mm.joinOrCreate(MAPS[params.get("game")] ? params.get("game") : "arena", { labels: { mode: "demo" } });
  const code = client.reservation.code;
  if (code) {
    const link = $("code");
    link.textContent = code;
    link.href = `#code=${code}`;
  }
  return client;
}

function step(pos, input, dt) {
  if (input.buttons & BUTTON_BRAKE) return pos;
  let [dx, dy] = input.dir;
  const len = Math.hypot(dx, dy);
  if (len > 1) { dx /= len; dy /= len; }
  const s = SPEED * (input.buttons & BUTTON_BOOST ? BOOST : 1) * dt;
  const clamp = (v) => Math.min(map.size - RADIUS, Math.max(RADIUS, v));
  return { x: clamp(pos.x + dx * s), y: clamp(pos.y + dy * s) };
}

const keys = new Set();
let touch = null;
addEventListener("keydown", (e) => keys.add(e.key.toLowerCase()));
addEventListener("keyup", (e) => keys.delete(e.key.toLowerCase()));
const canvas = $("board");
const ctx = canvas.getContext("2d");
// The board's top left corner in world units, and world units across it.
let camera = { x: 0, y: 0, span: 100 };
const toWorld = (e) => {
  const r = canvas.getBoundingClientRect();
  return {
    x: camera.x + ((e.clientX - r.left) / r.width) * camera.span,
    y: camera.y + ((e.clientY - r.top) / r.height) * camera.span,
  };
};
canvas.addEventListener("pointerdown", (e) => { touch = toWorld(e); canvas.setPointerCapture(e.pointerId); });
canvas.addEventListener("pointermove", (e) => { if (touch) touch = toWorld(e); });
canvas.addEventListener("pointerup", () => { touch = null; });

let predictor = null;
function readInput() {
  let x = 0, y = 0;
  if (keys.has("a") || keys.has("arrowleft")) x -= 1;
  if (keys.has("d") || keys.has("arrowright")) x += 1;
  if (keys.has("w") || keys.has("arrowup")) y -= 1;
  if (keys.has("s") || keys.has("arrowdown")) y += 1;
  const me = predictor?.state;
  if (touch && me) {
    const dx = touch.x - me.x, dy = touch.y - me.y, d = Math.hypot(dx, dy);
    if (d > 1) { x = dx / d; y = dy / d; }
  }
  const buttons = (keys.has("shift") ? BUTTON_BOOST : 0) | (keys.has(" ") ? BUTTON_BRAKE : 0);
  return { dir: [x, y], buttons };
}

async function main() {
  const client = await join();
  const others = new Interpolator((a, b, t) => ({ id: b.id, x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }));
  let stopInputs = null;
  client.on("welcome", (w) => {
    map = { ...(MAPS[w.game] ?? MAPS.arena) };
    status(`connected as ${w.player_id} in ${w.match_id}${map.view ? ` (large map: you see ${map.view} around you)` : ""}`);
    predictor = new Predictor(step, 1 / w.tick_rate);
    // Two snapshots behind, so there is almost always one on each side of the render time.
    others.setDelay(2000 / (w.snapshot_rate || w.tick_rate));
    stopInputs?.();
    stopInputs = client.paceInputs(readInput, (seq, input) => predictor.push(seq, input));
  });
  client.on("snapshot", (s) => {
    const size = client.state.globals?.size;
    if (map.view && typeof size === "number") map.size = size;
    const me = client.playerId;
    const entities = new Map();
    for (const [key, row] of client.state.rows) {
      if (row.id === me) predictor?.reconcile({ x: row.x, y: row.y }, s.acks[me] ?? 0);
      else entities.set(key, { id: row.id, x: row.x, y: row.y });
    }
    others.push(performance.now(), entities);
    $("players").textContent = String(client.state.rows.size);
    $("tick").textContent = String(s.tick);
  });
  client.on("error", (e) => status(`${e.code}: ${e.message}`, e.fatal));
  client.on("match_end", (m) => status(`match over (${m.reason})`, true));
  client.on("disconnect", (reason, again) => status(again ? `reconnecting (${reason})…` : `disconnected (${reason})`, !again));

  const draw = () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const me = predictor?.state;
    const span = map.view ? WINDOW : map.size;
    const corner = (v) => (map.view ? Math.min(map.size - span, Math.max(0, v - span / 2)) : 0);
    camera = { x: corner(me?.x ?? 0), y: corner(me?.y ?? 0), span };
    const k = canvas.width / span;
    const px = (p) => [(p.x - camera.x) * k, (p.y - camera.y) * k];
    const disc = (p, color, label) => {
      const [x, y] = px(p);
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(x, y, RADIUS * k, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = "#aaa";
      ctx.fillText(label, x - RADIUS * k, y - RADIUS * k - 3);
    };
    if (map.view) {
      // The walls, and the edge of what the server sends this player.
      ctx.strokeStyle = "#555";
      ctx.strokeRect(-camera.x * k, -camera.y * k, map.size * k, map.size * k);
      if (me) {
        const [x, y] = px(me);
        ctx.strokeStyle = "#345";
        ctx.beginPath();
        ctx.arc(x, y, map.view * k, 0, Math.PI * 2);
        ctx.stroke();
      }
    }
    for (const o of others.sample(performance.now()).values()) disc(o, "#e96", o.id);
    if (me) {
      disc(me, "#6cf", client.playerId ?? "me");
      $("me").textContent = `x=${me.x.toFixed(1)} y=${me.y.toFixed(1)}`;
    }
    const l = client.inputLatency;
    $("latency").textContent = l === null ? "–" : `${l.toFixed(0)} ms`;
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  // Round trip to the server, measured with a tiny HTTP request every two seconds (the
  // Socket.IO connection has no request/response to time); input→ack adds up to a tick.
  const ping = async () => {
    const t0 = performance.now();
    try {
      await fetch(`${server}/healthz`, { cache: "no-store" });
      $("rtt").textContent = `${(performance.now() - t0).toFixed(0)} ms`;
    } catch {
      $("rtt").textContent = "–";
    }
  };
  ping();
  setInterval(ping, 2000);
  window.tickroom = client; // for the browser tests and for poking at it in the console
}

main().catch((e) => status(`cannot join: ${e.code ?? ""} ${e.message}`, true));
