// A typed client of the example shooter, compiled (tsc --strict) by tests/tests/examples
// against what `shooter-server input-types` prints: the input type written once in Rust is
// the type the client is checked against. The `@ts-expect-error` lines fail the build if a
// wrong input type-checks.
import { connect, checkInput } from "@tickroom/client";
import { INPUTS, type Inputs, type ShooterInput } from "./inputs.js";

const client = connect<Inputs["shooter"]>("http://127.0.0.1:1", "token", {
  inputSchema: INPUTS.shooter,
  io: { autoConnect: false },
});

const held: ShooterInput = { dir: [1, 0], aim: 0.5, fire: true };
client.sendInput(held);
client.sendInput({ dir: [0, -1] });

// @ts-expect-error: dir is a pair
client.sendInput({ dir: [1] });
// @ts-expect-error: fire is a boolean
client.sendInput({ dir: [0, 0], fire: 1 });
// @ts-expect-error: an unknown key
client.sendInput({ dir: [0, 0], jump: true });
// @ts-expect-error: no dir
client.sendInput({ cell: 3 });

export const refused: string | undefined = checkInput(INPUTS.shooter, { dir: [2, 0] })?.reason;
