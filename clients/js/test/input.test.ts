// checkInput against the conformance vectors the server's own decoding and checks generate
// (tests/tests/js_package/generated.rs): every input, decoded as the JS client would hold it,
// gets the answer the server gives it — accepted, bad_payload, or invalid_input with the
// server's reason word for word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decode } from "notepack.io";

import { checkInput, rustFloat } from "../src/input.js";
import type { InputSchema } from "../src/protocol.js";
import { TickroomClient, TickroomError } from "../src/client.js";

interface Vectors {
  schemas: Record<string, InputSchema>;
  cases: {
    schema: string;
    note: string;
    msgpack: string;
    expect: { code: "bad_payload" | "invalid_input" | null; reason?: string };
  }[];
}

const vectors = JSON.parse(readFileSync("test/vectors/inputs.json", "utf8")) as Vectors;

test("checkInput answers every input as the server does", () => {
  let refused = 0;
  for (const c of vectors.cases) {
    const schema = vectors.schemas[c.schema];
    assert.ok(schema, c.schema);
    const input: unknown = decode(Buffer.from(c.msgpack, "hex"));
    const got = checkInput(schema, input);
    const what = `${c.schema}: ${c.note}`;
    if (c.expect.code === null) {
      assert.equal(got, null, what);
      continue;
    }
    refused++;
    assert.equal(got?.code, c.expect.code, `${what}: ${got?.reason}`);
    if (c.expect.code === "invalid_input") assert.equal(got?.reason, c.expect.reason, what);
  }
  assert.ok(refused >= 30 && refused < vectors.cases.length, "both answers are covered");
});

test("numbers are written as Rust writes them", () => {
  assert.equal(rustFloat(-1), "-1");
  assert.equal(rustFloat(0.5), "0.5");
  assert.equal(rustFloat(1e21), "1000000000000000000000");
  assert.equal(rustFloat(1.5e-7), "0.00000015");
  assert.equal(rustFloat(-2.5e22), "-25000000000000000000000");
});

test("a key holding undefined is refused: msgpack has no undefined", () => {
  const schema = vectors.schemas["arena"];
  assert.ok(schema);
  assert.equal(checkInput(schema, { dir: [0, 0], buttons: undefined })?.code, "bad_payload");
});

test("with inputSchema, sendInput throws instead of sending what the server refuses", () => {
  const schema = vectors.schemas["arena"];
  assert.ok(schema);
  // Never connects: autoConnect off, so nothing leaves the process.
  const client = new TickroomClient<unknown>("http://127.0.0.1:9", "t", {
    inputSchema: schema,
    reconnection: false,
    io: { autoConnect: false },
  });
  assert.throws(
    () => client.sendInput({ dir: [2, 0] }),
    (e: unknown) =>
      e instanceof TickroomError &&
      e.code === "invalid_input" &&
      e.message === "dir: numbers must be within -1..=1" &&
      !e.fatal,
  );
  assert.throws(() => client.sendInput({ dir: "up" }), (e: unknown) => e instanceof TickroomError && e.code === "bad_payload");
  assert.equal(client.sendInput({ dir: [1, 0] }), 1, "the first accepted input is seq 1");
  client.close();
});
