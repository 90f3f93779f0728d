// Polls GET /admin/stats once a second with the admin key and shows the node live: totals,
// rates computed from successive samples, a chart of the last two minutes, and one page of
// matches (the server sorts and pages, so a node with 1,000 rooms sends 20 rows, not 1,000).
const PAGE = 20, HISTORY = 120, EVERY_MS = 1000;
const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
let key = fragment.get("key") ?? sessionStorage.getItem("tickroom-admin-key");
let offset = 0;
let last = null; // the previous sample: { at, stats }
const history = []; // { bytesPerSec, connections, tickUs }
const perMatch = new Map(); // id -> { at, bytes }: for each listed match's bytes/s

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  key = $("key").value;
  sessionStorage.setItem("tickroom-admin-key", key);
  poll();
});
$("sort").addEventListener("change", () => { offset = 0; poll(); });
$("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); poll(); });
$("next").addEventListener("click", () => { offset += PAGE; poll(); });

const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "err" : "";
};
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)} k` : String(Math.round(n)));
const cell = (v) => { const td = document.createElement("td"); td.textContent = v; return td; };

function totals(stats, rates) {
  const t = stats.totals;
  const items = [
    ["matches", `${t.matches} (${t.live} live)`],
    ["connections", `${t.connections} (ws ${t.transports.websocket}, polling ${t.transports.polling})`],
    ["ticks/s", fmt(rates.ticks)],
    ["snapshot KB/s", (rates.bytes / 1024).toFixed(1)],
    ["snapshots dropped", fmt(t.snapshots_dropped)],
    ["tick overruns", fmt(t.tick_overruns)],
    ["inputs/s", fmt(rates.inputs)],
    ["refused: handshakes / origins", `${t.handshakes_refused} / ${t.origins_refused}`],
    ["errors by code", Object.entries(t.errors).map(([c, n]) => `${c} ${n}`).join(", ") || "none"],
  ];
  $("totals").replaceChildren(...items.map(([label, value]) => {
    const div = document.createElement("div");
    div.textContent = label;
    const b = document.createElement("b");
    b.textContent = value;
    div.append(b);
    return div;
  }));
}

function table(stats, now) {
  const rows = stats.matches.rows.map((m) => {
    const before = perMatch.get(m.id);
    const kbs = before && now > before.at ? (m.snapshot_bytes - before.bytes) / 1024 / ((now - before.at) / 1000) : 0;
    perMatch.set(m.id, { at: now, bytes: m.snapshot_bytes });
    const tr = document.createElement("tr");
    tr.append(cell(m.id), cell(m.game), cell(m.state), cell(m.players), cell(m.disconnected), cell(m.spectators),
      cell(`${m.age_secs} s`), cell(m.tick), cell(m.tick_us), cell(m.tick_max_us), cell(m.late_us),
      cell(kbs.toFixed(1)), cell(m.snapshots_dropped), cell(m.tick_overruns));
    return tr;
  });
  $("matches").replaceChildren(...rows);
  if (perMatch.size > 4 * PAGE) perMatch.clear();
  const total = stats.matches.total;
  $("page").textContent = total === 0 ? "no match" : `${offset + 1}–${Math.min(total, offset + PAGE)} of ${total}`;
}

function chart() {
  const c = $("chart"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const series = [
    ["snapshot KB/s", "#6cf", (h) => h.bytesPerSec / 1024],
    ["connections", "#e96", (h) => h.connections],
    ["ticks/s", "#9c9", (h) => h.ticksPerSec],
  ];
  series.forEach(([label, color, value], i) => {
    const max = Math.max(1, ...history.map(value));
    ctx.strokeStyle = color;
    ctx.beginPath();
    history.forEach((h, j) => {
      const x = (j / (HISTORY - 1)) * c.width, y = c.height - 4 - (value(h) / max) * (c.height - 20);
      j === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.fillText(`${label} (max ${fmt(max)})`, 8 + i * 200, 12);
  });
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  if (!key) return;
  try {
    const res = await fetch(`/admin/stats?sort=${$("sort").value}&limit=${PAGE}&offset=${offset}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const body = await res.json();
    if (!res.ok) {
      status(`${body.error?.code ?? res.status}: ${body.error?.message ?? ""}`, true);
      if (res.status === 401) return; // wrong key: wait for another
    } else {
      const now = performance.now();
      const dt = last ? (now - last.at) / 1000 : 0;
      const delta = (f) => (last && dt > 0 ? (f(body.totals) - f(last.stats.totals)) / dt : 0);
      const rates = { bytes: delta((t) => t.snapshot_bytes), ticks: delta((t) => t.ticks), inputs: delta((t) => t.inputs_accepted) };
      last = { at: now, stats: body };
      history.push({ bytesPerSec: rates.bytes, connections: body.totals.connections, ticksPerSec: rates.ticks });
      if (history.length > HISTORY) history.shift();
      totals(body, rates);
      table(body, now);
      chart();
      status(`live · up ${body.uptime_secs} s · updated ${new Date().toLocaleTimeString()}`);
    }
  } catch (e) {
    status(`cannot reach the server: ${e.message}`, true);
  }
  timer = setTimeout(poll, EVERY_MS);
}

if (key) $("login").hidden = true;
poll();
