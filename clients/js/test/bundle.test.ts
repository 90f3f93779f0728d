// The browser bundle (client + socket.io-client + msgpack parser, minified) stays within its
// size budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

/** Budget of the minified bundle, and of it gzipped (what a browser downloads). */
const RAW_BUDGET = 80 * 1024;
const GZIP_BUDGET = 24 * 1024;

test("the browser bundle fits its budget", () => {
  const bundle = readFileSync("dist/tickroom.browser.js");
  const gz = gzipSync(bundle, { level: 9 }).length;
  assert.ok(bundle.length <= RAW_BUDGET, `${bundle.length} bytes minified, budget ${RAW_BUDGET}`);
  assert.ok(gz <= GZIP_BUDGET, `${gz} bytes gzipped, budget ${GZIP_BUDGET}`);
  assert.match(bundle.toString("utf8"), /origin_not_allowed/, "the client's own code is in it");
});
