//! Socket.IO msgpack packets and Engine.IO v4 framing, as the server's msgpack parser expects.
//!
//! A Socket.IO packet is one binary WebSocket frame holding a msgpack map
//! `{type, nsp, data?, id?}`. Decoding walks the map without building a tree, so the event
//! payload stays a slice of the frame that can be decoded straight into a typed message.

use bytes::Bytes;

use super::skip_value as skip;

/// Socket.IO packet types.
pub mod kind {
    /// CONNECT (client: auth in `data`; server: `{sid}` in `data`).
    pub const CONNECT: u8 = 0;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 1;
    /// EVENT (`data` = `[name, ...args]`).
    pub const EVENT: u8 = 2;
    /// ACK.
    pub const ACK: u8 = 3;
    /// CONNECT_ERROR (`data` = `{message}`).
    pub const CONNECT_ERROR: u8 = 4;
}

/// A decoded packet; `data` is the raw msgpack of the `data` field, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// One of [`kind`].
    pub kind: u8,
    /// Namespace.
    pub nsp: String,
    /// Raw msgpack of `data`.
    pub data: Option<Bytes>,
}

/// Why a frame is not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Socket.IO msgpack packet: {0}")]
pub struct PacketError(pub &'static str);

/// Encodes a packet with `data` given as raw msgpack.
pub fn encode_packet(kind: u8, nsp: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.map_or(0, <[u8]>::len));
    // Writes into a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut out, if data.is_some() { 3 } else { 2 });
    let _ = rmp::encode::write_str(&mut out, "type");
    let _ = rmp::encode::write_uint(&mut out, u64::from(kind));
    let _ = rmp::encode::write_str(&mut out, "nsp");
    let _ = rmp::encode::write_str(&mut out, nsp);
    if let Some(data) = data {
        let _ = rmp::encode::write_str(&mut out, "data");
        out.extend_from_slice(data);
    }
    out
}

/// Decodes one packet from a binary frame.
pub fn decode_packet(frame: &Bytes) -> Result<Packet, PacketError> {
    let mut rd: &[u8] = frame;
    let n = rmp::decode::read_map_len(&mut rd).map_err(|_| PacketError("not a map"))?;
    let mut kind = None;
    let mut nsp = String::from("/");
    let mut data = None;
    for _ in 0..n {
        let (key, rest) =
            rmp::decode::read_str_from_slice(rd).map_err(|_| PacketError("key is not a string"))?;
        rd = rest;
        match key {
            "type" => {
                let v: u8 = rmp::decode::read_int(&mut rd).map_err(|_| PacketError("bad type"))?;
                kind = Some(v);
            }
            "nsp" => {
                let (s, rest) =
                    rmp::decode::read_str_from_slice(rd).map_err(|_| PacketError("bad nsp"))?;
                nsp = s.to_owned();
                rd = rest;
            }
            "data" => {
                let start = frame.len() - rd.len();
                skip_value(&mut rd)?;
                let end = frame.len() - rd.len();
                data = Some(frame.slice(start..end));
            }
            _ => skip_value(&mut rd)?,
        }
    }
    Ok(Packet {
        kind: kind.ok_or(PacketError("no type"))?,
        nsp,
        data,
    })
}

/// Advances `rd` past one msgpack value (see [`super::skip_value`]).
fn skip_value(rd: &mut &[u8]) -> Result<(), PacketError> {
    skip(rd).map_err(|_| PacketError("truncated value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_skip() {
        let event = super::super::encode_event(
            "input",
            &serde_json::json!({"seq": 1, "input": {"dir": [1.0, -0.5], "buttons": 3, "s": "x".repeat(300)}}),
        );
        let frame = Bytes::from(encode_packet(kind::EVENT, "/", Some(&event)));
        let p = decode_packet(&frame).unwrap();
        assert_eq!(p.kind, kind::EVENT);
        assert_eq!(p.nsp, "/");
        assert_eq!(p.data.as_deref(), Some(&event[..]));
        let bare = Bytes::from(encode_packet(kind::DISCONNECT, "/", None));
        assert_eq!(decode_packet(&bare).unwrap().data, None);
        // truncated anywhere → error, never a panic
        for cut in 0..frame.len() {
            let _ = decode_packet(&frame.slice(..cut));
        }
        assert!(decode_packet(&frame.slice(..frame.len() - 1)).is_err());
        // a huge declared array with nothing behind it
        let mut lie = &[0xdd, 0xff, 0xff, 0xff, 0xff][..];
        assert!(skip_value(&mut lie).is_err());
    }
}
