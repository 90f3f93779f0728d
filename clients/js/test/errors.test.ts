// Errors reach the application as codes, never as strings to parse.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connectErrorCode, elsewhereUrl } from "../src/client.js";
import { ERROR_CODES } from "../src/protocol.js";

test("refusals, refused origins and transport failures have codes", () => {
  for (const code of ERROR_CODES) assert.equal(connectErrorCode(new Error(code)), code);
  const origin = Object.assign(new Error("xhr poll error"), {
    description: 403,
    context: { responseText: JSON.stringify({ error: { code: "origin_not_allowed", message: "" } }) },
  });
  assert.equal(connectErrorCode(origin), "origin_not_allowed");
  assert.equal(connectErrorCode(new Error("websocket error")), "transport_error");
  const proxy = Object.assign(new Error("xhr poll error"), { description: 403, context: { responseText: "<html>" } });
  assert.equal(connectErrorCode(proxy), "transport_error");
  // A match on another node of the cluster: the code, and where to go.
  const moved = new Error("match_elsewhere http://10.0.0.2:7350");
  assert.equal(connectErrorCode(moved), "match_elsewhere");
  assert.equal(elsewhereUrl(moved), "http://10.0.0.2:7350");
  assert.equal(elsewhereUrl(new Error("match_not_found")), null);
});
