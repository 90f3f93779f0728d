// Plays a recorded match back (docs/REPLAY.md): fetches GET /admin/results/{id}/playback —
// the snapshots a spectator was sent, replayed on the server from the match's command log —
// and applies them to @tickroom/client's StateStore at the match's snapshot rate, 1× or 4×,
// drawing every row that has an `x` and a `y` (the arena's discs, the shooter's ships,
// bullets and pickups). #match=<id>&key=<admin key>&speed=4 plays at once.
import { StateStore } from "/client/tickroom.js";

const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
let key = fragment.get("key") ?? sessionStorage.getItem("tickroom-admin-key");
let speed = fragment.get("speed") === "4" ? 4 : 1;
let paused = false;
let timer = null;

const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "err" : "";
};
const COLORS = ["#6cf", "#fc6", "#9e9", "#f9c", "#ccc"];

function setSpeed(s) {
  speed = s;
  $("speed").textContent = `${s}×`;
  $("x1").className = s === 1 ? "on" : "";
  $("x4").className = s === 4 ? "on" : "";
}

function draw(store) {
  const canvas = $("board");
  const ctx = canvas.getContext("2d");
  const rows = [...store.rows].filter(([, r]) => typeof r.x === "number" && typeof r.y === "number");
  // The map's side: the globals' `size` if the game says it, else what the rows span.
  const size = typeof store.globals?.size === "number"
    ? store.globals.size
    : Math.max(100, ...rows.map(([, r]) => Math.max(r.x, r.y) + 2));
  const scale = canvas.width / size;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const [key, r] of rows) {
    const kinds = store.kinds.map((k) => k.name);
    ctx.fillStyle = COLORS[Math.max(0, kinds.indexOf(store.kindOf(key) ?? "")) % COLORS.length];
    ctx.beginPath();
    ctx.arc(r.x * scale, r.y * scale, Math.max(2, 2 * scale), 0, Math.PI * 2);
    ctx.fill();
  }
}

async function play(matchId) {
  clearTimeout(timer);
  status(`loading ${matchId}…`);
  const res = await fetch(`/admin/results/${encodeURIComponent(matchId)}/playback`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const body = await res.json();
  if (!res.ok) return status(`${body.error?.code ?? res.status}: ${body.error?.message ?? ""}`, true);
  const store = new StateStore();
  const total = body.snapshots.length;
  $("total").textContent = String(total);
  let next = 0;
  const rate = body.snapshot_rate || body.tick_rate;
  status(`${body.game} match ${body.match_id}: ${total} snapshots${body.complete ? "" : " (the recording was cut at its bound)"}`);
  const step = () => {
    if (!paused) {
      const applied = store.apply(body.snapshots[next++]);
      if (applied) $("tick").textContent = String(applied.tick);
      $("played").textContent = String(next);
      $("rows").textContent = String(store.rows.size);
      draw(store);
      if (next >= total) {
        status(`played ${body.game} match ${body.match_id} to tick ${store.tick} (${total} snapshots)`);
        // What it ended on, for tests and scripts: every row, by key.
        document.body.dataset.final = JSON.stringify([...store.rows].map(([k, r]) => ({ key: k, ...r })));
        document.body.dataset.done = "true";
        return;
      }
    }
    timer = setTimeout(step, 1000 / rate / speed);
  };
  step();
}

$("open").addEventListener("submit", (e) => {
  e.preventDefault();
  key = $("key").value || key;
  sessionStorage.setItem("tickroom-admin-key", key);
  play($("match").value).catch((err) => status(String(err), true));
});
$("x1").addEventListener("click", () => setSpeed(1));
$("x4").addEventListener("click", () => setSpeed(4));
$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? "play" : "pause";
});
setSpeed(speed);
if (fragment.get("match") && key) play(fragment.get("match")).catch((err) => status(String(err), true));
