// A connection to a Tickroom match over the official socket.io-client with the msgpack
// parser: typed events, the rebuilt state, numbered inputs, and errors as codes.

import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";

import {
  ERROR_CODES,
  EVENT,
  PROTOCOL_VERSION,
  type AuthPayload,
  type ErrorCode,
  type ErrorMsg,
  type InputSchema,
  type MatchEnd,
  type Moved,
  type Presence,
  type Shutdown,
  type Announcement,
  type Welcome,
} from "./protocol.js";
import { checkInput } from "./input.js";
import { StateStore, type Applied, type SnapshotMsg } from "./state.js";

/**
 * Why something failed, as a code: one of the server's codes (docs/PROTOCOL.md §6), or
 * `origin_not_allowed` (this page's origin may not connect), `transport_error` (the network
 * or the server could not be reached), `bad_snapshot` (a snapshot not of the documented
 * shape).
 */
export type TickroomErrorCode = ErrorCode | "origin_not_allowed" | "transport_error" | "bad_snapshot";

/** An error with a code to switch on; `message` is for people. */
export class TickroomError extends Error {
  constructor(
    readonly code: TickroomErrorCode,
    message: string,
    /** Whether the connection is closed because of it (refused handshakes, transport). */
    readonly fatal: boolean,
  ) {
    super(message);
    this.name = "TickroomError";
  }
}

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

function isErrorCode(s: string): s is ErrorCode {
  return KNOWN.has(s);
}

/** What socket.io-client's `connect_error` carries for an HTTP failure of long-polling. */
interface PollError extends Error {
  description?: unknown;
  context?: { responseText?: unknown };
}

/**
 * The URL of the node to connect to instead, when the server refused with `match_elsewhere`
 * (the match runs on another node of the cluster: its message is the code, a space, the URL).
 */
export function elsewhereUrl(err: Error): string | null {
  const prefix = "match_elsewhere ";
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : null;
}

/** The code of a failed connection attempt. */
export function connectErrorCode(err: Error): TickroomErrorCode {
  if (isErrorCode(err.message)) return err.message;
  if (elsewhereUrl(err) !== null) return "match_elsewhere";
  const poll = err as PollError;
  if (poll.description === 403 && typeof poll.context?.responseText === "string") {
    try {
      const body = JSON.parse(poll.context.responseText) as { error?: { code?: unknown } };
      if (body.error?.code === "origin_not_allowed") return "origin_not_allowed";
    } catch {
      // not our JSON: a proxy's page
    }
  }
  return "transport_error";
}

/** The events a client emits, with their arguments. */
export interface ClientEvents {
  /** First on every accepted connection (again after each reconnection). */
  welcome: (w: Welcome) => void;
  /** After each snapshot has been applied to `client.state`. */
  snapshot: (s: Applied) => void;
  /** A player joined, left, dropped or came back. */
  presence: (p: Presence) => void;
  /** Something failed; `fatal` errors close the connection. */
  error: (e: TickroomError) => void;
  /** The match is over; the server disconnects next. */
  match_end: (m: MatchEnd) => void;
  /** The server is stopping. */
  shutdown: (s: Shutdown) => void;
  /**
   * The match moved to another node (its node drains, or an operator moved it): the client
   * connects there by itself with the same token, sends again the inputs not yet
   * acknowledged, and a new `welcome` follows. `client.url` is the new node's.
   */
  moved: (m: Moved) => void;
  /** A message from the operator, to every player of every node. */
  announcement: (a: Announcement) => void;
  /** The connection dropped (`reconnecting`: socket.io-client is trying again with the same token). */
  disconnect: (reason: string, reconnecting: boolean) => void;
}

/** Options of `connect`. */
export interface ConnectOptions {
  /** The match the client means to join (the token must name it). */
  matchId?: string;
  /** Reconnect with the same token after a drop, taking the seat back (default true). */
  reconnection?: boolean;
  /** socket.io-client's transports (default: its own, long-polling then WebSocket). */
  transports?: ("polling" | "websocket")[];
  /** Any other socket.io-client option. */
  io?: Partial<ManagerOptions & SocketOptions>;
  /**
   * The game's input schema (from the server's `input-types` command): `sendInput` then
   * checks each input as the server would and throws instead of sending one it would refuse.
   */
  inputSchema?: InputSchema;
}

type Listeners = { [E in keyof ClientEvents]: Set<ClientEvents[E]> };

/** One connection to a match. Create it with `connect`. */
export class TickroomClient<I = unknown> {
  /** The match state, rebuilt from every snapshot. */
  readonly state = new StateStore();
  /** The last welcome, or null before the first. */
  welcome: Welcome | null = null;
  /** The socket.io-client socket underneath (a new one after each `moved`). */
  socket: Socket;
  /** The server this client is connected to (the node the match moved to, after `moved`). */
  url: string;
  private readonly options: Partial<ManagerOptions & SocketOptions>;
  private seq = 0;
  /** Inputs sent and not yet acknowledged, by seq: sent again after a move. */
  private readonly unacked = new Map<number, I>();
  private readonly sentAt = new Map<number, number>();
  private lastLatency: number | null = null;
  private lastSnapshot: Applied | null = null;
  private readonly inputSchema: InputSchema | null;
  private readonly listeners: Listeners = {
    welcome: new Set(),
    snapshot: new Set(),
    presence: new Set(),
    error: new Set(),
    match_end: new Set(),
    shutdown: new Set(),
    moved: new Set(),
    announcement: new Set(),
    disconnect: new Set(),
  };

  constructor(url: string, token: string, opts: ConnectOptions = {}) {
    this.inputSchema = opts.inputSchema ?? null;
    const auth: AuthPayload = { token, protocol: PROTOCOL_VERSION };
    if (opts.matchId !== undefined) auth.match_id = opts.matchId;
    const options: Partial<ManagerOptions & SocketOptions> = {
      ...opts.io,
      parser: msgpackParser,
      auth,
      reconnection: opts.reconnection ?? true,
    };
    if (opts.transports) options.transports = opts.transports;
    this.options = options;
    this.url = url;
    this.socket = this.open(url);
  }

  /** A socket to `url`, its events wired to this client's. */
  private open(url: string): Socket {
    const socket = io(url, { ...this.options, forceNew: true });
    socket.on(EVENT.welcome, (w: Welcome) => {
      this.welcome = w;
      this.emit("welcome", w);
      // After a move, what the old node had not acknowledged goes again (the new node ignores
      // what it already applied).
      for (const [seq, input] of this.unacked) socket.emit(EVENT.input, { seq, input });
    });
    socket.on(EVENT.snapshot, (s: SnapshotMsg) => this.onSnapshot(s));
    socket.on(EVENT.presence, (p: Presence) => this.emit("presence", p));
    socket.on(EVENT.match_end, (m: MatchEnd) => this.emit("match_end", m));
    socket.on(EVENT.shutdown, (s: Shutdown) => this.emit("shutdown", s));
    socket.on(EVENT.moved, (m: Moved) => this.onMoved(m));
    socket.on(EVENT.announcement, (a: Announcement) => this.emit("announcement", a));
    socket.on(EVENT.error, (e: ErrorMsg) => {
      const code = isErrorCode(e.code) ? e.code : "transport_error";
      const fatal = code === "session_replaced" || code === "too_many_dropped" || code === "kicked";
      this.emit("error", new TickroomError(code, e.message, fatal));
    });
    socket.on("connect_error", (err: Error) => {
      const code = connectErrorCode(err);
      // A refusal by the server is final (socket.io-client does not retry it); a transport
      // failure is retried while reconnection is on.
      this.emit("error", new TickroomError(code, err.message, !socket.active));
    });
    socket.on("disconnect", (reason: string) => {
      // The old node's goodbye after a move is not this client's disconnect.
      if (socket === this.socket) this.emit("disconnect", reason, socket.active);
    });
    return socket;
  }

  private onMoved(m: Moved): void {
    const old = this.socket;
    this.url = m.url;
    // The state stays: the match goes on there from the tick it reached here, and the new
    // node's first snapshot to this connection is a keyframe.
    this.socket = this.open(m.url);
    old.disconnect();
    this.emit("moved", m);
  }

  private onSnapshot(s: SnapshotMsg): void {
    let applied: Applied | null;
    try {
      applied = this.state.apply(s);
    } catch (e) {
      this.emit("error", new TickroomError("bad_snapshot", String(e), false));
      return;
    }
    if (!applied) return;
    this.lastSnapshot = applied;
    const me = this.welcome?.player_id;
    const acked = me === undefined ? undefined : applied.acks[me];
    if (acked !== undefined) {
      // A new client on a held seat (a page reloaded) continues after what was applied:
      // inputs at or below it would be ignored as old.
      if (acked > this.seq) this.seq = acked;
      const sent = this.sentAt.get(acked);
      if (sent !== undefined) this.lastLatency = now() - sent;
      for (const seq of this.sentAt.keys()) if (seq <= acked) this.sentAt.delete(seq);
      for (const seq of this.unacked.keys()) if (seq <= acked) this.unacked.delete(seq);
    }
    this.emit("snapshot", applied);
  }

  /** Listens to `event`; returns the function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, cb: ClientEvents[E]): () => void {
    this.listeners[event].add(cb);
    return () => this.listeners[event].delete(cb);
  }

  private emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    for (const cb of this.listeners[event]) (cb as (...a: Parameters<ClientEvents[E]>) => void)(...args);
  }

  /** Whether the connection is up and admitted. */
  get connected(): boolean {
    return this.socket.connected;
  }

  /** The player id from the token, once welcomed. */
  get playerId(): string | null {
    return this.welcome?.player_id ?? null;
  }

  /** The seq of the last input the server applied for `player` (default: this one). */
  ackFor(player = this.playerId): number | undefined {
    return player === null ? undefined : this.lastSnapshot?.acks[player];
  }

  /** Time from sending the last acknowledged input to the snapshot acknowledging it, in ms. */
  get inputLatency(): number | null {
    return this.lastLatency;
  }

  /**
   * Sends one input with the next sequence number and returns it. Inputs sent while
   * disconnected are queued by socket.io-client and sent on reconnection. With the
   * `inputSchema` option, an input the server would refuse is not sent: this throws a
   * `TickroomError` with the server's code (`bad_payload` or `invalid_input`) and reason.
   */
  sendInput(input: I): number {
    if (this.inputSchema !== null) {
      const problem = checkInput(this.inputSchema, input);
      if (problem !== null) throw new TickroomError(problem.code, problem.reason, false);
    }
    const seq = ++this.seq;
    if (this.sentAt.size < 1024) this.sentAt.set(seq, now());
    if (this.unacked.size >= MAX_UNACKED) {
      const oldest = this.unacked.keys().next().value;
      if (oldest !== undefined) this.unacked.delete(oldest);
    }
    this.unacked.set(seq, input);
    this.socket.emit(EVENT.input, { seq, input });
    return seq;
  }

  /**
   * Sends `read()` once per tick of the match (its welcome's tick rate), as the server
   * applies one input a tick; `onSent` sees each seq and input (for prediction). Returns the
   * function that stops it.
   */
  paceInputs(read: () => I, onSent?: (seq: number, input: I) => void): () => void {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    const tick = (): void => {
      if (stopped) return;
      const rate = this.welcome?.tick_rate ?? 30;
      if (this.connected && this.welcome) {
        const input = read();
        const seq = this.sendInput(input);
        onSent?.(seq, input);
      }
      timer = setTimeout(tick, 1000 / rate);
    };
    tick();
    return () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    };
  }

  /** Leaves the match (the seat is given up at once) and closes the connection. */
  close(): void {
    this.socket.disconnect();
  }
}

/** Inputs kept to send again after a move; older ones are forgotten beyond this. */
const MAX_UNACKED = 256;

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

/**
 * Connects to the Tickroom server at `url` with a match token. The client connects in the
 * background; listen for `welcome` (admitted) and `error` (refused, with a code).
 */
export function connect<I = unknown>(url: string, token: string, opts: ConnectOptions = {}): TickroomClient<I> {
  return new TickroomClient<I>(url, token, opts);
}
