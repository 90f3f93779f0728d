// Generated from tickroom-shared's protocol types by
// `TICKROOM_BLESS=1 cargo test -p tickroom-tests --test js_package generated`.
// Do not edit: tests/tests/js_package fails when this file and the Rust source differ.

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 5;

/** The Socket.IO namespace. */
export const NAMESPACE = "/";

/** Event names, in both directions. */
export const EVENT = {
  input: "input",
  welcome: "welcome",
  snapshot: "s",
  error: "error",
  match_end: "match_end",
  presence: "presence",
  shutdown: "shutdown",
  moved: "moved",
  announcement: "announcement",
} as const;

/** Every error code the server sends, in CONNECT_ERROR and `error` events. */
export const ERROR_CODES = [
  "auth_missing",
  "auth_malformed",
  "protocol_unsupported",
  "token_invalid",
  "token_expired",
  "token_wrong_match",
  "token_stale",
  "match_not_found",
  "match_elsewhere",
  "match_full",
  "match_ended",
  "reservation_expired",
  "server_busy",
  "handshake_rate_limited",
  "unknown_event",
  "bad_payload",
  "invalid_input",
  "spectator_cannot_act",
  "rate_limited",
  "inbox_full",
  "session_replaced",
  "too_many_dropped",
  "kicked",
] as const;

export type Role = "player" | "spectator";

export type AuthPayload = { 
/**
 * The signed match token (an HS256 JWT with [`MatchClaims`](crate::MatchClaims)).
 */
token: string, 
/**
 * If set, the match the client means to join; the token must name the same match.
 */
match_id?: string, 
/**
 * If set, the protocol version the client speaks; must equal [`PROTOCOL_VERSION`].
 */
protocol?: number, };

export type Welcome = { 
/**
 * [`PROTOCOL_VERSION`] of the server.
 */
protocol: number, 
/**
 * The match this connection is in.
 */
match_id: string, 
/**
 * The player id from the token.
 */
player_id: string, 
/**
 * The role from the token.
 */
role: Role, 
/**
 * The game the match runs (e.g. `"arena"`).
 */
game: string, 
/**
 * Ticks per second.
 */
tick_rate: number, 
/**
 * Snapshots per second: a snapshot every `tick_rate / snapshot_rate` ticks (plus one at
 * once after a join, and the last tick of the match).
 */
snapshot_rate: number, 
/**
 * The room's tick counter when this connection joined; the first snapshot received has a
 * tick greater than or equal to it.
 */
tick: number, };

export type InputMsg<I> = { 
/**
 * Client-assigned sequence number, starting at 1.
 */
seq: number, 
/**
 * The game-specific input.
 */
input: I, };

export type ErrorCode = "auth_missing" | "auth_malformed" | "protocol_unsupported" | "token_invalid" | "token_expired" | "token_wrong_match" | "token_stale" | "match_not_found" | "match_elsewhere" | "match_full" | "match_ended" | "reservation_expired" | "server_busy" | "handshake_rate_limited" | "unknown_event" | "bad_payload" | "invalid_input" | "spectator_cannot_act" | "rate_limited" | "inbox_full" | "session_replaced" | "too_many_dropped" | "kicked";

export type ErrorMsg = { 
/**
 * A stable code from [`ErrorCode`]; clients should tolerate unknown codes.
 */
code: string, 
/**
 * Human-readable detail; never parse it.
 */
message: string, };

export type EndReason = "admin" | "game_over" | "shutdown" | "error" | "abandoned" | "moved";

export type MatchEnd = { 
/**
 * The match that ended.
 */
match_id: string, 
/**
 * Why.
 */
reason: EndReason, 
/**
 * The last tick the room ran.
 */
tick: number, 
/**
 * The game's final scores by player id (empty for games without scores).
 */
scores: { [key in string]: number }, };

export type PresenceStatus = "joined" | "left" | "disconnected" | "reconnected";

export type Presence = { 
/**
 * Whose.
 */
player_id: string, 
/**
 * What happened.
 */
status: PresenceStatus, 
/**
 * The room's tick when it happened (it shows in the next snapshot).
 */
tick: number, };

export type Shutdown = { 
/**
 * Why (`"server_shutdown"`).
 */
reason: string, 
/**
 * Milliseconds until running matches are ended if they have not finished.
 */
deadline_ms: number, 
/**
 * Reconnecting to this server will be refused: connect to another one (or retry after
 * this many milliseconds, when the server is expected back).
 */
reconnect_after_ms: number, };

export type Moved = { 
/**
 * The match.
 */
match_id: string, 
/**
 * The node that holds it now: connect there with the same token.
 */
url: string, };

export type Announcement = { 
/**
 * The text to show players (at most 1,000 characters).
 */
message: string, 
/**
 * When it was sent, milliseconds since the Unix epoch.
 */
sent_at_ms: number, };

export type NumberType = "f32" | "f64" | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64";

export type InputType = { "kind": "number", 
/**
 * The Rust type (`f32`, `u8`, ...): a value is rounded to it before it is compared.
 */
number: NumberType, 
/**
 * The smallest value allowed (the type's own for an integer; none for a float
 * without a declared range).
 */
min: number | null, 
/**
 * The largest value allowed, likewise.
 */
max: number | null, 
/**
 * For an unsigned integer with `bits`: the only bits it may have.
 */
bits: number | null, } | { "kind": "bool" } | { "kind": "string", 
/**
 * The longest allowed, in bytes.
 */
max_len: number | null, } | { "kind": "array", 
/**
 * The items' type.
 */
of: InputType, 
/**
 * How many.
 */
len: number, } | { "kind": "list", 
/**
 * The items' type.
 */
of: InputType, 
/**
 * The most allowed.
 */
max_len: number | null, } | { "kind": "option", 
/**
 * The value's type.
 */
of: InputType, } | { "kind": "object", 
/**
 * Its schema.
 */
schema: InputSchema, };

export type InputField = { 
/**
 * The key on the wire.
 */
name: string, 
/**
 * Whether the key may be left out (`#[serde(default)]`, or an `Option`).
 */
optional: boolean, 
/**
 * The field's documentation, from its doc comment.
 */
doc: string, 
/**
 * What its value must be.
 */
type: InputType, };

export type InputSchema = { 
/**
 * The Rust type's name (the TypeScript interface's).
 */
name: string, 
/**
 * Whether a key that is not a field is refused (`#[serde(deny_unknown_fields)]`);
 * otherwise it is ignored.
 */
deny_unknown_fields: boolean, 
/**
 * The fields, in declaration order.
 */
fields: Array<InputField>, };
