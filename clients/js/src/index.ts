// @tickroom/client: connect to a Tickroom match from a browser or Node.
//
//   import { connect } from "@tickroom/client";
//   const client = connect("http://127.0.0.1:7350", token);
//   client.on("welcome", (w) => console.log("I am", w.player_id));
//   client.state.onAdd((key, row) => console.log("row", key, row));
//   client.on("error", (e) => console.log(e.code));
//   client.sendInput({ dir: [1, 0], buttons: 0 });
//
// Without a backend, matchmaking finds the seat and the token:
//
//   const client = await new Matchmaker("http://127.0.0.1:7350").joinOrCreate("arena");

export { connect, connectErrorCode, elsewhereUrl, TickroomClient, TickroomError } from "./client.js";
export type { ClientEvents, ConnectOptions, TickroomErrorCode } from "./client.js";
export { Lobby, Matchmaker, MatchmakingError, watchLobby } from "./matchmaking.js";
export type {
  LobbyEvents,
  MatchedClient,
  MatchmakerOptions,
  MatchmakingErrorCode,
  MatchOptions,
  OpenMatch,
  QueueOptions,
  Reservation,
  TicketView,
} from "./matchmaking.js";
export { checkInput } from "./input.js";
export type { InputProblem } from "./input.js";
export { StateStore } from "./state.js";
export type { Applied, FieldSpec, KindSpec, Row, SnapshotMsg, Unsubscribe, Value } from "./state.js";
export { Interpolator, Predictor } from "./predict.js";
export type { Lerp, Step } from "./predict.js";
export * from "./protocol.js";
