// The matchmaking API (docs/MATCHMAKING.md): find a seat without a backend, then connect.
//
//   import { Matchmaker } from "@tickroom/client";
//   const mm = new Matchmaker("http://127.0.0.1:7350");        // anonymous (dev keys)
//   const client = await mm.joinOrCreate("arena");             // a connected TickroomClient
//   console.log("share this code:", client.reservation.code);
//
// And the realtime lobby (namespace /lobby):
//
//   const lobby = watchLobby("http://127.0.0.1:7350", { game: "arena" });
//   lobby.on("change", () => render([...lobby.matches.values()]));

import { io, type Socket } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { connect, type ConnectOptions, TickroomClient } from "./client.js";
import { type Announcement, EVENT } from "./protocol.js";

/** What a match must be. */
export interface MatchOptions {
  /** Labels the match must have, exactly (`mode`, `region`, …). */
  labels?: Record<string, string>;
  /** Player seats; the game's size when absent. */
  maxPlayers?: number;
}

/** A seat held for this player: connect to `url` with `token` before `expires`. */
export interface Reservation {
  url: string;
  match_id: string;
  game: string;
  player_id: string;
  /** The match token that redeems the reservation (and reconnects later). */
  token: string;
  /** When the reservation lapses, seconds since the Unix epoch. */
  expires: number;
  /** Seconds from the answer until it lapses. */
  expires_in: number;
  /** The match's join code, to share. */
  code: string | null;
  private: boolean;
}

/** A public open match, as the lobby lists it. */
export interface OpenMatch {
  match_id: string;
  game: string;
  labels: Record<string, string>;
  /** Seats taken (reserved, connected or held). */
  players: number;
  max_players: number;
  state: "waiting" | "running";
  code: string | null;
  created_at: number;
}

/** What a queue ticket waits for, besides the game. */
export interface QueueOptions extends MatchOptions {
  /** Anonymous players only: a signed player's rating is its token's. */
  rating?: number;
  /** The party id (anonymous players; a signed player's is its token's `party`). */
  party?: string;
  /** How many players the party has. */
  partySize?: number;
}

/** A queue ticket and where it stands. */
export interface TicketView {
  ticket: string;
  player_id: string;
  status: "waiting" | "waiting_for_party" | "matched" | "timed_out" | "left";
  waited_secs?: number;
  window?: number;
  present?: number;
  party_size?: number;
  reservation?: Reservation;
}

/** The codes a matchmaking request fails with (docs/MATCHMAKING.md), or `transport_error`. */
export type MatchmakingErrorCode =
  | "identity_required"
  | "identity_invalid"
  | "identity_expired"
  | "rate_limited"
  | "unknown_game"
  | "bad_labels"
  | "bad_max_players"
  | "bad_request"
  | "match_not_found"
  | "match_full"
  | "match_ended"
  | "room_limit"
  | "shutting_down"
  | "directory_unavailable"
  | "queue_full"
  | "bad_party"
  | "bad_rating"
  | "already_queued"
  | "ticket_not_found"
  | "ticket_resolved"
  | "timed_out"
  | "left"
  | "origin_not_allowed"
  | "transport_error";

/** A failed matchmaking request. */
export class MatchmakingError extends Error {
  constructor(
    readonly code: MatchmakingErrorCode,
    message: string,
    /** The HTTP status (0: no answer). */
    readonly status: number,
  ) {
    super(message);
    this.name = "MatchmakingError";
  }
}

/** A client connected through matchmaking, with the reservation it redeemed. */
export type MatchedClient<I> = TickroomClient<I> & { reservation: Reservation };

/** Options of `Matchmaker`. */
export interface MatchmakerOptions {
  /** The player token from the game's auth service; anonymous (where allowed) without one. */
  playerToken?: string;
  /** Options for the connections `joinOrCreate` & co. open. */
  connect?: ConnectOptions;
}

/** Calls the matchmaking API of one server as one player. */
export class Matchmaker {
  private readonly base: string;

  constructor(
    server: string,
    private readonly opts: MatchmakerOptions = {},
  ) {
    this.base = server.replace(/\/+$/, "");
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.opts.playerToken) headers["authorization"] = `Bearer ${this.opts.playerToken}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, init);
    } catch (e) {
      throw new MatchmakingError("transport_error", String(e), 0);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: a proxy's page
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
      const code = (err?.code ?? "transport_error") as MatchmakingErrorCode;
      throw new MatchmakingError(code, err?.message ?? text.slice(0, 200), res.status);
    }
    return json as T;
  }

  private static ask(game: string, o: MatchOptions): Record<string, unknown> {
    const body: Record<string, unknown> = { game };
    if (o.labels) body["labels"] = o.labels;
    if (o.maxPlayers !== undefined) body["max_players"] = o.maxPlayers;
    return body;
  }

  /** Reserves a seat in an open public match of `game`, or in a new one. */
  reserveJoinOrCreate(game: string, o: MatchOptions = {}): Promise<Reservation> {
    return this.call("POST", "/matchmaking/join-or-create", Matchmaker.ask(game, o));
  }

  /** Reserves a seat in a new match; a private one is joined by its code or id only. */
  reserveCreate(game: string, o: MatchOptions & { private?: boolean } = {}): Promise<Reservation> {
    return this.call("POST", "/matchmaking/create", { ...Matchmaker.ask(game, o), private: o.private ?? false });
  }

  /** Reserves a seat in the match with this id. */
  reserveJoinById(matchId: string): Promise<Reservation> {
    return this.call("POST", "/matchmaking/join", { match_id: matchId });
  }

  /** Reserves a seat in the match with this join code. */
  reserveJoinByCode(code: string): Promise<Reservation> {
    return this.call("POST", "/matchmaking/join", { code });
  }

  /** Connects to a reserved seat. */
  redeem<I = unknown>(r: Reservation): MatchedClient<I> {
    const client = connect<I>(r.url, r.token, { ...this.opts.connect, matchId: r.match_id });
    return Object.assign(client, { reservation: r });
  }

  /** A seat in an open public match of `game` (or a new one), connected. */
  async joinOrCreate<I = unknown>(game: string, o: MatchOptions = {}): Promise<MatchedClient<I>> {
    return this.redeem<I>(await this.reserveJoinOrCreate(game, o));
  }

  /** A seat in a new match, connected. */
  async create<I = unknown>(game: string, o: MatchOptions & { private?: boolean } = {}): Promise<MatchedClient<I>> {
    return this.redeem<I>(await this.reserveCreate(game, o));
  }

  /** A seat in the match with this id, connected. */
  async joinById<I = unknown>(matchId: string): Promise<MatchedClient<I>> {
    return this.redeem<I>(await this.reserveJoinById(matchId));
  }

  /** A seat in the match with this join code, connected. */
  async joinByCode<I = unknown>(code: string): Promise<MatchedClient<I>> {
    return this.redeem<I>(await this.reserveJoinByCode(code));
  }

  /** Public open matches, filtered. */
  async listMatches(filter: { game?: string; labels?: Record<string, string>; available?: boolean } = {}): Promise<OpenMatch[]> {
    const q = new URLSearchParams();
    if (filter.game) q.set("game", filter.game);
    if (filter.available !== undefined) q.set("available", String(filter.available));
    for (const [k, v] of Object.entries(filter.labels ?? {})) q.set(`label.${k}`, v);
    const { matches } = await this.call<{ matches: OpenMatch[] }>("GET", `/matchmaking/matches?${q}`);
    return matches;
  }

  /** Enqueues for a match of `game`. */
  enqueue(game: string, o: QueueOptions = {}): Promise<TicketView> {
    const body = Matchmaker.ask(game, o);
    if (o.rating !== undefined) body["rating"] = o.rating;
    if (o.party !== undefined) body["party"] = o.party;
    if (o.partySize !== undefined) body["party_size"] = o.partySize;
    return this.call("POST", "/matchmaking/queue", body);
  }

  /** Where a ticket stands, waiting up to `waitSecs` (at most 30) for it to end. */
  ticket(id: string, waitSecs = 0): Promise<TicketView> {
    return this.call("GET", `/matchmaking/queue/${encodeURIComponent(id)}?wait=${waitSecs}`);
  }

  /** Leaves the queue. */
  leave(id: string): Promise<TicketView> {
    return this.call("DELETE", `/matchmaking/queue/${encodeURIComponent(id)}`);
  }

  /**
   * Enqueues and waits until matched, then connects. `onStatus` sees every status while
   * waiting; aborting `signal` leaves the queue. A ticket that ends unmatched rejects with
   * its status as the code (`timed_out`, `left`).
   */
  async queue<I = unknown>(
    game: string,
    o: QueueOptions = {},
    onStatus?: (t: TicketView) => void,
    signal?: AbortSignal,
  ): Promise<MatchedClient<I>> {
    let t = await this.enqueue(game, o);
    const leave = (): void => void this.leave(t.ticket).catch(() => undefined);
    signal?.addEventListener("abort", leave, { once: true });
    try {
      for (;;) {
        onStatus?.(t);
        if (t.reservation) return this.redeem<I>(t.reservation);
        if (t.status === "timed_out" || t.status === "left") {
          throw new MatchmakingError(t.status, `the ticket ended: ${t.status}`, 200);
        }
        if (signal?.aborted) throw new MatchmakingError("left", "aborted", 0);
        t = await this.ticket(t.ticket, 20);
      }
    } finally {
      signal?.removeEventListener("abort", leave);
    }
  }
}

/** The events of a `Lobby`. */
export interface LobbyEvents {
  /** The full list arrived (on connecting, and again after each reconnection). */
  matches: (all: OpenMatch[]) => void;
  added: (m: OpenMatch) => void;
  changed: (m: OpenMatch) => void;
  removed: (matchId: string) => void;
  /** After any of the above. */
  change: () => void;
  /** A message from the operator, to everyone on every node. */
  announcement: (a: Announcement) => void;
  /** The lobby refused the connection (`unknown_game`, `identity_required`, …) or it failed. */
  error: (code: string) => void;
}

/** The realtime lobby: `matches` stays current as the server pushes changes. */
export class Lobby {
  /** Public open matches by id. */
  readonly matches = new Map<string, OpenMatch>();
  readonly socket: Socket;
  private readonly listeners: { [E in keyof LobbyEvents]: Set<LobbyEvents[E]> } = {
    matches: new Set(),
    added: new Set(),
    changed: new Set(),
    removed: new Set(),
    change: new Set(),
    announcement: new Set(),
    error: new Set(),
  };

  constructor(server: string, opts: { game?: string; playerToken?: string } = {}) {
    const auth: Record<string, string> = {};
    if (opts.game) auth["game"] = opts.game;
    if (opts.playerToken) auth["token"] = opts.playerToken;
    this.socket = io(`${server.replace(/\/+$/, "")}/lobby`, { parser: msgpackParser, auth });
    this.socket.on("matches", ({ matches }: { matches: OpenMatch[] }) => {
      this.matches.clear();
      for (const m of matches) this.matches.set(m.match_id, m);
      this.emit("matches", matches);
      this.emit("change");
    });
    const upsert = (event: "added" | "changed") => (m: OpenMatch) => {
      this.matches.set(m.match_id, m);
      this.emit(event, m);
      this.emit("change");
    };
    this.socket.on("match_added", upsert("added"));
    this.socket.on("match_changed", upsert("changed"));
    this.socket.on("match_removed", ({ match_id }: { match_id: string }) => {
      this.matches.delete(match_id);
      this.emit("removed", match_id);
      this.emit("change");
    });
    this.socket.on(EVENT.announcement, (a: Announcement) => this.emit("announcement", a));
    this.socket.on("connect_error", (err: Error) => this.emit("error", err.message));
  }

  /** Listens to `event`; returns the function that stops listening. */
  on<E extends keyof LobbyEvents>(event: E, cb: LobbyEvents[E]): () => void {
    this.listeners[event].add(cb);
    return () => this.listeners[event].delete(cb);
  }

  private emit<E extends keyof LobbyEvents>(event: E, ...args: Parameters<LobbyEvents[E]>): void {
    for (const cb of this.listeners[event]) (cb as (...a: Parameters<LobbyEvents[E]>) => void)(...args);
  }

  /** Stops watching. */
  close(): void {
    this.socket.disconnect();
  }
}

/** Watches the lobby of `server` (one game's matches with `game`). */
export function watchLobby(server: string, opts: { game?: string; playerToken?: string } = {}): Lobby {
  return new Lobby(server, opts);
}
