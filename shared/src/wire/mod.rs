//! The Socket.IO + MessagePack wire, as Tickroom speaks it: the one place its framing lives.
//!
//! - `packet`: a Socket.IO packet is one binary WebSocket frame holding a msgpack map
//!   `{type, nsp, data?, id?}` ([`encode_packet`], [`decode_packet`], [`kind`]). Clients use
//!   it; the server leaves packets to socketioxide.
//! - `event`: an EVENT's `data` is the msgpack array `[name, arg]`; Tickroom events carry one
//!   argument, a msgpack map. [`split_event`], [`split_input`] and the `decode_*` functions
//!   check exactly that shape, refusing anything else with a [`DecodeError`].
//!
//! Decoding walks the msgpack without building a tree, so payloads stay slices of the frame
//! that decode straight into typed messages.

mod event;
mod packet;

pub use event::{
    DecodeError, decode_event, decode_map, decode_value, encode_event, skip_value, split_event,
    split_input,
};
pub use packet::{Packet, PacketError, decode_packet, encode_packet, kind};
