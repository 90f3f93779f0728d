//! Watches the first bytes of a connection that opens a WebSocket session, in both
//! directions, for one protocol breach the Socket.IO layer cannot see in time: the client
//! writing another packet before the server has answered its CONNECT.
//!
//! socketioxide closes such a session (the packet finds no connected socket) while the
//! handshake's authentication is still running, and then still sends the CONNECT reply and
//! runs the connect handler, which would seat the player for a tick. Only the raw bytes tell,
//! at the moment the connect handler runs, whether that happened; the handler asks
//! [`super::conns::Conn::packet_before_connect_reply`] and does not seat the player.
//!
//! The watch reads only frame headers (and one byte of a text frame), and stops for good at
//! the server's first binary frame — its CONNECT reply or CONNECT_ERROR — so a session pays
//! for it during its handshake only.

/// The WebSocket opcodes the watch tells apart.
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;

/// Longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

/// Where a byte stream is: in the HTTP head before the WebSocket, in a frame header, or in a
/// frame's payload.
#[derive(Debug)]
enum Phase {
    /// How much of the `\r\n\r\n` that ends the HTTP head has been seen.
    Head {
        matched: usize,
    },
    Header {
        buf: [u8; MAX_HEADER],
        len: usize,
    },
    Payload {
        left: u64,
        first: FirstByte,
    },
}

/// A text frame's first payload byte is wanted (an Engine.IO ping or pong is not a packet);
/// `mask` is the client's masking key for it, zero for the server's frames.
#[derive(Debug, Clone, Copy)]
enum FirstByte {
    Wanted { mask: u8 },
    Ignored,
}

/// A frame the watch saw begin: its opcode and, for a text frame, its first payload byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameStart {
    pub(crate) opcode: u8,
    pub(crate) first: Option<u8>,
}

/// Follows one direction of a connection from its HTTP head through WebSocket frames.
#[derive(Debug)]
struct Stream {
    phase: Phase,
}

impl Stream {
    fn new() -> Self {
        Self {
            phase: Phase::Head { matched: 0 },
        }
    }

    /// Feeds `bytes`; calls `frame` for each frame whose start is complete (a text frame once
    /// its first payload byte is in), stopping when it returns `false`.
    fn feed(&mut self, mut bytes: &[u8], mut frame: impl FnMut(FrameStart) -> bool) {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Head { matched } => {
                    const END: &[u8] = b"\r\n\r\n";
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    *matched = match (b == END[*matched], b == b'\r') {
                        (true, _) => *matched + 1,
                        (false, true) => 1,
                        (false, false) => 0,
                    };
                    if *matched == END.len() {
                        self.phase = Phase::Header {
                            buf: [0; MAX_HEADER],
                            len: 0,
                        };
                    }
                }
                Phase::Header { buf, len } => {
                    buf[*len] = bytes[0];
                    *len += 1;
                    bytes = &bytes[1..];
                    let Some(need) = header_len(&buf[..*len]) else {
                        continue;
                    };
                    if *len < need {
                        continue;
                    }
                    let opcode = buf[0] & 0x0f;
                    let mask = if buf[1] & 0x80 != 0 { buf[need - 4] } else { 0 };
                    let left = payload_len(&buf[..need]);
                    let wants_first = opcode == OP_TEXT && left > 0;
                    if !wants_first
                        && !frame(FrameStart {
                            opcode,
                            first: None,
                        })
                    {
                        return;
                    }
                    self.phase = match (left, wants_first) {
                        (0, _) => Phase::Header {
                            buf: [0; MAX_HEADER],
                            len: 0,
                        },
                        (left, true) => Phase::Payload {
                            left,
                            first: FirstByte::Wanted { mask },
                        },
                        (left, false) => Phase::Payload {
                            left,
                            first: FirstByte::Ignored,
                        },
                    };
                }
                Phase::Payload { left, first } => {
                    if let FirstByte::Wanted { mask } = *first {
                        *first = FirstByte::Ignored;
                        let start = FrameStart {
                            opcode: OP_TEXT,
                            first: Some(bytes[0] ^ mask),
                        };
                        if !frame(start) {
                            return;
                        }
                    }
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    bytes = &bytes[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        self.phase = Phase::Header {
                            buf: [0; MAX_HEADER],
                            len: 0,
                        };
                    }
                }
            }
        }
    }
}

/// The length of a frame header that begins with `head`, once enough of it is known.
fn header_len(head: &[u8]) -> Option<usize> {
    if head.len() < 2 {
        return None;
    }
    let ext = match head[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if head[1] & 0x80 != 0 { 4 } else { 0 };
    Some(2 + ext + mask)
}

/// The payload length a complete frame header gives.
fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
        n => u64::from(n),
    }
}

/// Whether a frame the client sends is a packet for the session (anything but an Engine.IO
/// ping or pong, or a WebSocket ping or pong).
fn is_packet(f: FrameStart) -> bool {
    match f.opcode {
        OP_BINARY | OP_CLOSE => true,
        OP_TEXT => !matches!(f.first, Some(b'2' | b'3')),
        _ => false,
    }
}

/// What the watch has concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still watching.
    Watching,
    /// The server has sent its first binary frame with at most one client packet before
    /// it: nothing more to watch.
    InOrder,
    /// The client sent a second packet before the server's first binary frame.
    PacketBeforeReply,
}

/// Both directions of one connection's start.
#[derive(Debug)]
pub(crate) struct HandshakeWatch {
    client: Stream,
    server: Stream,
    client_packets: u32,
    verdict: Verdict,
}

impl HandshakeWatch {
    pub(crate) fn new() -> Self {
        Self {
            client: Stream::new(),
            server: Stream::new(),
            client_packets: 0,
            verdict: Verdict::Watching,
        }
    }

    /// Bytes the client sent (as read from the connection).
    pub(crate) fn read(&mut self, bytes: &[u8]) -> Verdict {
        if self.verdict == Verdict::Watching {
            let (packets, verdict) = (&mut self.client_packets, &mut self.verdict);
            self.client.feed(bytes, |f| {
                if is_packet(f) {
                    *packets += 1;
                    if *packets >= 2 {
                        *verdict = Verdict::PacketBeforeReply;
                        return false;
                    }
                }
                true
            });
        }
        self.verdict
    }

    /// Bytes the server wrote to the connection.
    pub(crate) fn wrote(&mut self, bytes: &[u8]) -> Verdict {
        if self.verdict == Verdict::Watching {
            let verdict = &mut self.verdict;
            self.server.feed(bytes, |f| {
                if f.opcode == OP_BINARY {
                    *verdict = Verdict::InOrder;
                    return false;
                }
                true
            });
        }
        self.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0x11, 0x22, 0x33, 0x44];
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        out.extend(key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        assert!(payload.len() < 126);
        out.push(payload.len() as u8);
        out.extend(payload);
        out
    }

    const REQUEST: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn a_packet_after_the_reply_is_in_order() {
        let mut w = HandshakeWatch::new();
        assert_eq!(w.read(REQUEST), Verdict::Watching);
        w.wrote(RESPONSE);
        w.wrote(&server_frame(OP_TEXT, b"0{\"sid\":\"x\"}"));
        w.read(&client_frame(OP_BINARY, &[0x83; 40]));
        // Pings and pongs, of both kinds, are not packets.
        w.read(&client_frame(OP_TEXT, b"3"));
        w.read(&client_frame(0x9, b""));
        assert_eq!(
            w.wrote(&server_frame(OP_BINARY, &[0x83; 30])),
            Verdict::InOrder
        );
        assert_eq!(w.read(&client_frame(OP_BINARY, &[1; 10])), Verdict::InOrder);
    }

    #[test]
    fn a_second_packet_before_the_reply_is_caught_in_any_split() {
        let mut bytes = REQUEST.to_vec();
        bytes.extend(client_frame(OP_BINARY, &[0x83; 300]));
        bytes.extend(client_frame(OP_TEXT, b"2"));
        bytes.extend(client_frame(OP_BINARY, &[0x92; 70_000]));
        for chunk in [1, 2, 3, 7, 64, 1000, bytes.len()] {
            let mut w = HandshakeWatch::new();
            w.wrote(RESPONSE);
            let verdicts: Vec<_> = bytes.chunks(chunk).map(|c| w.read(c)).collect();
            assert_eq!(
                verdicts.last(),
                Some(&Verdict::PacketBeforeReply),
                "in chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_text_message_or_a_close_counts_as_a_packet() {
        for second in [
            client_frame(OP_TEXT, b"4hello"),
            client_frame(OP_CLOSE, b""),
        ] {
            let mut w = HandshakeWatch::new();
            w.read(REQUEST);
            w.read(&client_frame(OP_BINARY, &[0x83; 10]));
            assert_eq!(w.read(&second), Verdict::PacketBeforeReply);
        }
    }
}
