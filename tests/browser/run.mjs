// Browser scenarios against a running Tickroom server, in Debian's chromium driven by
// playwright-core. Prints one JSON line with what the page showed; exits 1 with a reason on
// failure. Screenshots go to $ARTIFACTS (a directory) when set.
//
// Usage: node run.mjs <scenario> <json arguments>
//   cross-origin {server, token, transports?}  a page on another origin joins with @tickroom/client
//                                              (socket.io-client's default options unless
//                                              transports is given), sees itself, moves
//   refused      {server, token}               the same page, its origin not allowed
//   demo         {server}                      two tabs of /demo/: both join or create, one moves, the
//                                              other sees it
//   demo-large   {server, walker, watcher}     /demo/ on arena_large with two tokens: the walker
//                                              comes into the watcher's view and leaves it again
//   dashboard    {server, adminKey, matchId}   /dashboard shows the live match
//   replay       {server, adminKey, matchId}   /dashboard/replay.html plays the ended match's recording
//                                              at 4×: the rows it ends on
//   shooter      {server}                      the example shooter's page (/shooter/): its three
//                                              kinds show, and holding fire makes bullets
import { createServer } from "node:http";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [scenario, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? "{}");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const BUNDLE = new URL("../../server/assets/demo/tickroom.js", import.meta.url);
const artifacts = process.env.ARTIFACTS;

const fail = (why) => {
  console.error(`FAIL (${scenario}): ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 45_000).unref();

/** Serves a test page and the client bundle from 127.0.0.1 on a port of its own: another origin. */
async function otherOrigin(html) {
  const bundle = readFileSync(BUNDLE);
  const server = createServer((req, res) => {
    if (req.url === "/tickroom.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end(html);
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** A page that joins with @tickroom/client and writes what it sees into #out as JSON. */
function joinPage({ server, token, transports }) {
  const opts = transports ? `{ transports: ${JSON.stringify(transports)} }` : "{}";
  return `<!doctype html><meta charset="utf-8"><pre id="out">starting</pre>
<script type="module">
import { connect } from "./tickroom.js";
const out = (o) => (document.getElementById("out").textContent = JSON.stringify(o));
const client = connect(${JSON.stringify(server)}, ${JSON.stringify(token)}, ${opts});
const seen = { welcome: null, snapshots: 0, ack: 0, fromX: null, toX: null, errors: [] };
client.on("welcome", (w) => { seen.welcome = w; });
client.on("error", (e) => { seen.errors.push(e.code); out(seen); });
client.on("snapshot", (s) => {
  seen.snapshots++;
  const mine = client.state.find("id", client.playerId);
  if (mine) {
    seen.fromX ??= mine[1].x;
    seen.toX = mine[1].x;
  }
  seen.ack = s.acks[client.playerId] ?? 0;
  seen.transport = client.socket.io.engine.transport.name;
  if (seen.snapshots === 3) for (let i = 0; i < 10; i++) client.sendInput({ dir: [1, 0], buttons: 0 });
  out(seen);
});
</script>`;
}

async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Two tabs play at once: neither may be throttled for being in the background.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
    ],
  });
}

async function readOut(page, done) {
  await page.waitForFunction(
    (test) => {
      try {
        return new Function("o", `return ${test}`)(JSON.parse(document.getElementById("out").textContent));
      } catch {
        return false;
      }
    },
    done,
    { timeout: 20_000, polling: 100 },
  );
  return JSON.parse(await page.textContent("#out"));
}

async function shot(page, name) {
  if (!artifacts) return;
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}

async function crossOrigin() {
  const site = await otherOrigin(joinPage(args));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(site.url);
    const seen = await readOut(page, "o.ack >= 10 && o.toX > o.fromX");
    await shot(page, `cross-origin-${(args.transports ?? ["default"]).join("-")}`);
    console.log(JSON.stringify({ ok: true, origin: site.url, ...seen }));
  } finally {
    await browser.close();
    site.server.close();
  }
}

async function refused() {
  const site = await otherOrigin(joinPage(args));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(site.url);
    const seen = await readOut(page, "o.errors.length > 0");
    console.log(JSON.stringify({ ok: true, ...seen }));
  } finally {
    await browser.close();
    site.server.close();
  }
}

/** The text of `selector` on `page`. */
const text = (page, selector) => page.textContent(selector);

async function demo() {
  const browser = await launch();
  try {
    const a = await browser.newPage();
    const b = await browser.newPage();
    const poll = { timeout: 20_000, polling: 100 };
    await a.goto(`${args.server}/demo/`);
    await a.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected as"), null, poll);
    // B opens the same page: join-or-create puts it in A's match. (A's invite link, its join
    // code, is what a friend would follow instead.)
    const invite = await a.evaluate(() => document.getElementById("code").getAttribute("href"));
    await b.goto(`${args.server}/demo/`);
    await b.waitForFunction(() => document.getElementById("players").textContent === "2", null, poll);
    const aId = await a.evaluate(() => window.tickroom.playerId);
    const whereBSeesA = () =>
      b.evaluate((id) => window.tickroom.state.find("id", id)?.[1].x ?? null, aId);
    const x0 = await whereBSeesA();
    const pixels0 = await b.evaluate(() => document.getElementById("board").toDataURL());
    // A holds "d" (move right) until B sees it more than 5 to the right (a timed hold of a
    // second could end before a loaded machine sent A's inputs).
    await a.bringToFront();
    await a.keyboard.down("d");
    await b.waitForFunction(
      ([id, x]) => (window.tickroom.state.find("id", id)?.[1].x ?? x) > x + 5,
      [aId, x0],
      poll,
    );
    await a.keyboard.up("d");
    const x1 = await whereBSeesA();
    const pixels1 = await b.evaluate(() => document.getElementById("board").toDataURL());
    const statusA = await text(a, "#status");
    const statusB = await text(b, "#status");
    const meA = await text(a, "#me");
    const latencyA = await text(a, "#latency");
    const rttA = await text(a, "#rtt");
    await shot(a, "demo-tab-a");
    await shot(b, "demo-tab-b");
    console.log(
      JSON.stringify({
        ok: true,
        statusA,
        statusB,
        meA,
        latencyA,
        rttA,
        playersB: await text(b, "#players"),
        aId,
        invite,
        matchA: await a.evaluate(() => window.tickroom.reservation.match_id),
        matchB: await b.evaluate(() => window.tickroom.reservation.match_id),
        x0,
        x1,
        canvasChanged: pixels0 !== pixels1,
      }),
    );
  } finally {
    await browser.close();
  }
}

async function demoLarge() {
  const browser = await launch();
  try {
    const poll = { timeout: 20_000, polling: 50 };
    const open = async (token) => {
      const page = await browser.newPage();
      await page.goto(`${args.server}/demo/#token=${token}&server=${args.server}`);
      await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected as"), null, poll);
      // Its own disc is in its state.
      await page.waitForFunction(() => window.tickroom.state.find("id", window.tickroom.playerId), null, poll);
      return page;
    };
    const a = await open(args.walker);
    const b = await open(args.watcher);
    const own = (page) => page.evaluate(() => window.tickroom.state.find("id", window.tickroom.playerId)[1]);
    // Walks the page's own disc to within 3 of column `x`: boosted while far, and back when it
    // went past (a loaded machine may look too late to stop it in time).
    const steerX = async (page, x) => {
      const deadline = Date.now() + poll.timeout;
      let held = [];
      const hold = async (keys) => {
        for (const k of held) if (!keys.includes(k)) await page.keyboard.up(k);
        for (const k of keys) if (!held.includes(k)) await page.keyboard.down(k);
        held = keys;
      };
      try {
        for (;;) {
          const d = x - (await own(page)).x;
          if (Math.abs(d) < 3) return;
          if (Date.now() > deadline) throw new Error(`the walker is still ${d.toFixed(1)} from x=${x}`);
          await hold([d > 0 ? "d" : "a", ...(Math.abs(d) > 12 ? ["Shift"] : [])]);
          await page.waitForTimeout(20);
        }
      } finally {
        await hold([]);
      }
    };
    const aId = await a.evaluate(() => window.tickroom.playerId);
    const [a0, b0] = [await own(a), await own(b)];
    const rowsBefore = await b.evaluate(() => window.tickroom.state.rows.size);
    const playersBefore = await text(b, "#players");
    const statusB = await text(b, "#status");
    const pixels0 = await b.evaluate(() => document.getElementById("board").toDataURL());
    // The walker boosts across to the watcher's column, then up or down it until the watcher
    // is sent its disc...
    await a.bringToFront();
    await steerX(a, b0.x);
    await a.keyboard.down("Shift");
    const toward = b0.y > a0.y ? "s" : "w";
    const away = toward === "s" ? "w" : "s";
    await a.keyboard.down(toward);
    await b.waitForFunction((id) => window.tickroom.state.find("id", id), aId, poll);
    await a.keyboard.up(toward);
    const seenAt = await b.evaluate((id) => window.tickroom.state.find("id", id)[1], aId);
    const bNow = await own(b);
    const rowsNear = await b.evaluate(() => window.tickroom.state.rows.size);
    const playersNear = await text(b, "#players");
    await b.waitForTimeout(300); // drawn, interpolated
    const pixels1 = await b.evaluate(() => document.getElementById("board").toDataURL());
    // ...then away until the watcher's state drops it.
    await a.keyboard.down(away);
    await b.waitForFunction((id) => !window.tickroom.state.find("id", id), aId, poll);
    await a.keyboard.up(away);
    await a.keyboard.up("Shift");
    const aGone = await own(a);
    const rowsAfter = await b.evaluate(() => window.tickroom.state.rows.size);
    await shot(b, "demo-large-watcher");
    console.log(
      JSON.stringify({
        ok: true,
        statusB,
        rowsBefore,
        playersBefore,
        startApart: Math.hypot(a0.x - b0.x, a0.y - b0.y),
        enteredAt: Math.hypot(seenAt.x - bNow.x, seenAt.y - bNow.y),
        rowsNear,
        playersNear,
        leftAt: Math.hypot(aGone.x - bNow.x, aGone.y - bNow.y),
        rowsAfter,
        canvasChanged: pixels0 !== pixels1,
      }),
    );
  } finally {
    await browser.close();
  }
}

async function replay() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${args.server}/dashboard/replay.html#match=${encodeURIComponent(args.matchId)}&key=${encodeURIComponent(args.adminKey)}&speed=4`);
    await page.waitForFunction(() => document.body.dataset.done === "true", null, { timeout: 30_000, polling: 100 });
    await shot(page, "replay");
    console.log(
      JSON.stringify({
        ok: true,
        status: await text(page, "#status"),
        speed: await text(page, "#speed"),
        tick: Number(await text(page, "#tick")),
        played: Number(await text(page, "#played")),
        total: Number(await text(page, "#total")),
        final: JSON.parse(await page.evaluate(() => document.body.dataset.final)),
        errors,
      }),
    );
  } finally {
    await browser.close();
  }
}

async function dashboard() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${args.server}/dashboard/#key=${encodeURIComponent(args.adminKey)}`);
    await page.waitForFunction(
      (id) => document.body.textContent.includes(id) && document.getElementById("status").textContent.includes("live"),
      args.matchId,
      { timeout: 20_000, polling: 100 },
    );
    const chart0 = await page.evaluate(() => document.getElementById("chart").toDataURL());
    await page.waitForFunction(
      (c) => document.getElementById("chart").toDataURL() !== c,
      chart0,
      { timeout: 20_000, polling: 100 },
    );
    await shot(page, "dashboard");
    console.log(
      JSON.stringify({
        ok: true,
        status: await text(page, "#status"),
        matches: await text(page, "#matches"),
        totals: await text(page, "#totals"),
      }),
    );
  } finally {
    await browser.close();
  }
}

async function shooter() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const poll = { timeout: 20_000, polling: 100 };
    await page.goto(`${args.server}/shooter/`);
    const count = (id) => page.evaluate((i) => Number(document.getElementById(i).textContent), id);
    await page.waitForFunction(() => document.getElementById("ships").textContent === "1", null, poll);
    const status = await text(page, "#status");
    const pickups = await count("pickups");
    // Hold space (fire): bullets appear, then fly off and are gone.
    await page.keyboard.down(" ");
    // The count as the wait saw it: read again later, a loaded machine may have let the
    // bullets fly off already.
    const bullets = await (
      await page.waitForFunction(() => Number(document.getElementById("bullets").textContent) || false, null, poll)
    ).jsonValue();
    await page.keyboard.up(" ");
    await page.waitForFunction(() => document.getElementById("bullets").textContent === "0", null, poll);
    await shot(page, "shooter");
    console.log(JSON.stringify({ ok: true, status, pickups, bullets, ships: await count("ships") }));
  } finally {
    await browser.close();
  }
}

const scenarios = { "cross-origin": crossOrigin, refused, demo, "demo-large": demoLarge, dashboard, replay, shooter };
const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().then(
  () => process.exit(0),
  (e) => fail(e.stack ?? String(e)),
);
