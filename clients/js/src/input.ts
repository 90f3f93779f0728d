// Inputs checked before they are sent, against the schema the server's game declares
// (`#[derive(Input)]`, printed by the server's `input-types` command): the same rules, in
// the same order, with the same reasons as the server's own check (proven by the
// conformance vectors the Rust decoder generates, test/vectors/inputs.json).

import type { InputSchema, InputType } from "./protocol.js";

/** Why an input would be refused: the `error` code the server would send, and its reason. */
export interface InputProblem {
  /** `bad_payload`: not the input's shape (a missing key, a wrong type); `invalid_input`:
   * a value outside the declared bounds. */
  code: "bad_payload" | "invalid_input";
  /** For people. For `invalid_input`, the server's message word for word. */
  reason: string;
}

/**
 * Checks `input` against `schema` as the server will: first its shape (a map with the
 * fields' keys and types, as the server decodes it), then the declared bounds, field by
 * field. Returns null when the server would accept it.
 */
export function checkInput(schema: InputSchema, input: unknown): InputProblem | null {
  const shape = shapeOf(schema, input);
  if (shape !== null) return { code: "bad_payload", reason: shape };
  const bounds = boundsOf(schema, input as Record<string, unknown>);
  return bounds === null ? null : { code: "invalid_input", reason: bounds };
}

const INTEGER_RANGE: Record<string, [number, number]> = {
  u8: [0, 255],
  u16: [0, 65535],
  u32: [0, 4294967295],
  u64: [0, 18446744073709551615],
  i8: [-128, 127],
  i16: [-32768, 32767],
  i32: [-2147483648, 2147483647],
  i64: [-9223372036854775808, 9223372036854775807],
};

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What the server's decoder would refuse, or null. */
function shapeOf(schema: InputSchema, input: unknown): string | null {
  if (!isMap(input)) return `${schema.name} must be a map`;
  const known = new Set(schema.fields.map((f) => f.name));
  if (schema.deny_unknown_fields) {
    for (const key of Object.keys(input)) if (!known.has(key)) return `unknown field \`${key}\``;
  }
  for (const f of schema.fields) {
    if (!(f.name in input)) {
      if (f.optional) continue;
      return `missing field \`${f.name}\``;
    }
    const problem = valueShape(f.type, input[f.name]);
    if (problem !== null) return `${f.name}: ${problem}`;
  }
  return null;
}

function valueShape(ty: InputType, v: unknown): string | null {
  switch (ty.kind) {
    case "number": {
      if (typeof v !== "number") return `expected a number (${ty.number})`;
      const range = INTEGER_RANGE[ty.number];
      if (range !== undefined && !(Number.isInteger(v) && v >= range[0] && v <= range[1])) {
        return `expected an integer that fits ${ty.number}`;
      }
      return null;
    }
    case "bool":
      return typeof v === "boolean" ? null : "expected a boolean";
    case "string":
      return typeof v === "string" ? null : "expected a string";
    case "array":
      if (!Array.isArray(v) || v.length !== ty.len) return `expected an array of ${ty.len}`;
      return itemsShape(ty.of, v);
    case "list":
      return Array.isArray(v) ? itemsShape(ty.of, v) : "expected an array";
    case "option":
      return v === null ? null : valueShape(ty.of, v);
    case "object":
      return shapeOf(ty.schema, v);
  }
}

function itemsShape(ty: InputType, items: unknown[]): string | null {
  for (const item of items) {
    const problem = valueShape(ty, item);
    if (problem !== null) return problem;
  }
  return null;
}

/** The first declared bound `input` (already of the right shape) breaks, or null. */
function boundsOf(schema: InputSchema, input: Record<string, unknown>): string | null {
  for (const f of schema.fields) {
    if (!(f.name in input)) continue;
    const v = input[f.name];
    // The server's order: finite floats, nested inputs, then range, bits and length.
    if (!every(f.type, v, (n, num) => !isFloat(num.number) || Number.isFinite(asType(n, num.number)))) {
      return `${f.name}: numbers must be finite`;
    }
    const nested = nestedBounds(f.type, v);
    if (nested !== null) return nested;
    const num = innerNumber(f.type);
    // An integer's own range was checked with its shape: only a declared one can fail here.
    if (num !== null && num.min !== null && num.max !== null) {
      const [lo, hi] = [num.min, num.max];
      if (!every(f.type, v, (n) => asType(n, num.number) >= lo && asType(n, num.number) <= hi)) {
        return `${f.name}: numbers must be within ${rustFloat(lo)}..=${rustFloat(hi)}`;
      }
    }
    if (num !== null && num.bits !== null) {
      const mask = BigInt(num.bits);
      if (!every(f.type, v, (n) => (BigInt(n) & ~mask) === 0n)) {
        return `${f.name}: only bits 0b${mask.toString(2)} may be set`;
      }
    }
    const max = maxLen(f.type);
    if (max !== null && v !== null && length(v) > max) return `${f.name}: longer than ${max}`;
  }
  return null;
}

type NumberSpec = Extract<InputType, { kind: "number" }>;

function isFloat(n: string): boolean {
  return n === "f32" || n === "f64";
}

/** `n` as the server holds it: rounded to float32 for an `f32`. */
function asType(n: number, number: string): number {
  return number === "f32" ? Math.fround(n) : n;
}

/** Whether `test` holds for every number inside `v`. */
function every(ty: InputType, v: unknown, test: (n: number, num: NumberSpec) => boolean): boolean {
  switch (ty.kind) {
    case "number":
      return test(v as number, ty);
    case "array":
    case "list":
      return (v as unknown[]).every((item) => every(ty.of, item, test));
    case "option":
      return v === null || every(ty.of, v, test);
    default:
      return true;
  }
}

function nestedBounds(ty: InputType, v: unknown): string | null {
  switch (ty.kind) {
    case "object":
      return boundsOf(ty.schema, v as Record<string, unknown>);
    case "array":
    case "list":
      for (const item of v as unknown[]) {
        const problem = nestedBounds(ty.of, item);
        if (problem !== null) return problem;
      }
      return null;
    case "option":
      return v === null ? null : nestedBounds(ty.of, v);
    default:
      return null;
  }
}

function innerNumber(ty: InputType): NumberSpec | null {
  switch (ty.kind) {
    case "number":
      return ty;
    case "array":
    case "list":
    case "option":
      return innerNumber(ty.of);
    default:
      return null;
  }
}

function maxLen(ty: InputType): number | null {
  switch (ty.kind) {
    case "string":
    case "list":
      return ty.max_len;
    case "option":
      return maxLen(ty.of);
    default:
      return null;
  }
}

const utf8 = new TextEncoder();

function length(v: unknown): number {
  return typeof v === "string" ? utf8.encode(v).length : (v as unknown[]).length;
}

/** A number as Rust's `Display` writes a float: never in exponent notation. */
export function rustFloat(v: number): string {
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const [, sign, int, frac = "", e] = m as unknown as [string, string, string, string | undefined, string];
  const exp = Number(e);
  const digits = int + frac;
  if (exp >= 0) return sign + digits + "0".repeat(Math.max(0, exp - frac.length));
  return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
}
