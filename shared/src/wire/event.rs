//! Event payloads: strict decoding of a Socket.IO msgpack event's `[name, arg]`.
//!
//! With the msgpack parser an EVENT packet's `data` is a msgpack array `[name, arg...]`.
//! Tickroom events carry exactly one argument, and that argument must be a msgpack map. The
//! decoders here check all of that and that no bytes trail the value, so a payload either has
//! exactly the documented shape or is refused with a [`DecodeError`].

use serde::de::DeserializeOwned;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not an array starting with a string event name.
    #[error("payload is not [event, arg]")]
    NotAnEvent,
    /// The event carries a number of arguments other than one.
    #[error("expected exactly one argument, got {0}")]
    ArgCount(u32),
    /// The argument is not a msgpack map.
    #[error("argument is not a map")]
    NotAMap,
    /// The argument does not deserialize into the expected type.
    #[error("argument does not have the expected shape")]
    Shape,
    /// Bytes follow the argument.
    #[error("trailing bytes after the argument")]
    Trailing,
    /// A value ends before its declared size.
    #[error("truncated msgpack value")]
    Truncated,
}

/// Splits `[name, arg]` into the event name and the raw msgpack bytes of `arg`.
pub fn split_event(payload: &[u8]) -> Result<(&str, &[u8]), DecodeError> {
    let mut rd = payload;
    let len = rmp::decode::read_array_len(&mut rd).map_err(|_| DecodeError::NotAnEvent)?;
    if len == 0 {
        return Err(DecodeError::NotAnEvent);
    }
    let (name, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| DecodeError::NotAnEvent)?;
    if len != 2 {
        return Err(DecodeError::ArgCount(len - 1));
    }
    Ok((name, rest))
}

/// Decodes one msgpack map from `bytes` into `T`, refusing any other kind of value and
/// trailing bytes.
pub fn decode_map<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match bytes.first() {
        Some(0x80..=0x8f | 0xde | 0xdf) => {}
        _ => return Err(DecodeError::NotAMap),
    }
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
    let value = T::deserialize(&mut de).map_err(|_| DecodeError::Shape)?;
    if de.position() as usize != bytes.len() {
        return Err(DecodeError::Trailing);
    }
    Ok(value)
}

/// Decodes one msgpack value from `bytes` into `T` (any form serde accepts for it), refusing
/// trailing bytes.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
    let value = T::deserialize(&mut de).map_err(|_| DecodeError::Shape)?;
    if de.position() as usize != bytes.len() {
        return Err(DecodeError::Trailing);
    }
    Ok(value)
}

/// Splits the argument of an `input` event, the map `{seq, input}`
/// ([`InputMsg`](crate::InputMsg)), into `seq` and the raw msgpack of `input`, without
/// decoding the game's input: the same shape rules as decoding `InputMsg` (both keys, once
/// each, no other key, `seq` an integer that fits `u32`, nothing trailing).
pub fn split_input(arg: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    if !matches!(arg.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return Err(DecodeError::NotAMap);
    }
    let mut rd = arg;
    let len = rmp::decode::read_map_len(&mut rd).map_err(|_| DecodeError::Truncated)?;
    let (mut seq, mut input) = (None, None);
    for _ in 0..len {
        let (key, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| DecodeError::Shape)?;
        rd = rest;
        match key {
            "seq" if seq.is_none() => {
                seq =
                    Some(rmp::decode::read_int::<u32, _>(&mut rd).map_err(|_| DecodeError::Shape)?);
            }
            "input" if input.is_none() => {
                let start = arg.len() - rd.len();
                skip_value(&mut rd)?;
                input = Some(&arg[start..arg.len() - rd.len()]);
            }
            _ => return Err(DecodeError::Shape),
        }
    }
    if !rd.is_empty() {
        return Err(DecodeError::Trailing);
    }
    match (seq, input) {
        (Some(seq), Some(input)) => Ok((seq, input)),
        _ => Err(DecodeError::Shape),
    }
}

/// Decodes a whole event payload `[name, arg]` whose argument is a map into `T`.
pub fn decode_event<T: DeserializeOwned>(payload: &[u8]) -> Result<(&str, T), DecodeError> {
    let (name, arg) = split_event(payload)?;
    Ok((name, decode_map(arg)?))
}

/// Encodes `[name, arg]` as the msgpack parser does (structs as maps).
pub fn encode_event<T: serde::Serialize>(name: &str, arg: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail, and every Tickroom message serializes.
    let _ = rmp::encode::write_array_len(&mut out, 2);
    let _ = rmp::encode::write_str(&mut out, name);
    let _ = arg.serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map());
    out
}

/// Advances `rd` past one msgpack value, checking that it is complete.
pub fn skip_value(rd: &mut &[u8]) -> Result<(), DecodeError> {
    use rmp::Marker as M;
    const TRUNC: DecodeError = DecodeError::Truncated;
    fn take(rd: &mut &[u8], n: usize) -> Result<(), DecodeError> {
        if rd.len() < n {
            return Err(TRUNC);
        }
        *rd = &rd[n..];
        Ok(())
    }
    fn be(rd: &mut &[u8], n: usize) -> Result<usize, DecodeError> {
        if rd.len() < n {
            return Err(TRUNC);
        }
        let v = rd[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        *rd = &rd[n..];
        Ok(v)
    }
    // Nesting is walked with an explicit count of values still to skip, not recursion, so a
    // deeply nested frame cannot overflow the stack.
    let mut pending: usize = 1;
    while pending > 0 {
        pending -= 1;
        let marker = rmp::decode::read_marker(rd).map_err(|_| TRUNC)?;
        let more = match marker {
            M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False | M::Reserved => 0,
            M::U8 | M::I8 => take(rd, 1).map(|_| 0)?,
            M::U16 | M::I16 => take(rd, 2).map(|_| 0)?,
            M::U32 | M::I32 | M::F32 => take(rd, 4).map(|_| 0)?,
            M::U64 | M::I64 | M::F64 => take(rd, 8).map(|_| 0)?,
            M::FixStr(n) => take(rd, n as usize).map(|_| 0)?,
            M::Str8 | M::Bin8 => {
                let n = be(rd, 1)?;
                take(rd, n).map(|_| 0)?
            }
            M::Str16 | M::Bin16 => {
                let n = be(rd, 2)?;
                take(rd, n).map(|_| 0)?
            }
            M::Str32 | M::Bin32 => {
                let n = be(rd, 4)?;
                take(rd, n).map(|_| 0)?
            }
            M::FixArray(n) => n as usize,
            M::Array16 => be(rd, 2)?,
            M::Array32 => be(rd, 4)?,
            M::FixMap(n) => 2 * n as usize,
            M::Map16 => 2 * be(rd, 2)?,
            M::Map32 => 2 * be(rd, 4)?,
            M::FixExt1 => take(rd, 2).map(|_| 0)?,
            M::FixExt2 => take(rd, 3).map(|_| 0)?,
            M::FixExt4 => take(rd, 5).map(|_| 0)?,
            M::FixExt8 => take(rd, 9).map(|_| 0)?,
            M::FixExt16 => take(rd, 17).map(|_| 0)?,
            M::Ext8 => {
                let n = be(rd, 1)?;
                take(rd, n + 1).map(|_| 0)?
            }
            M::Ext16 => {
                let n = be(rd, 2)?;
                take(rd, n + 1).map(|_| 0)?
            }
            M::Ext32 => {
                let n = be(rd, 4)?;
                take(rd, n + 1).map(|_| 0)?
            }
        };
        // Each element needs at least one byte: a count larger than what is left is a lie.
        if more > rd.len() {
            return Err(TRUNC);
        }
        pending += more;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::InputMsg;
    use serde::de::IgnoredAny;

    /// A game input shaped like the arena's.
    #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ArenaInput {
        dir: [f32; 2],
        #[serde(default)]
        buttons: u8,
    }

    fn input() -> InputMsg<ArenaInput> {
        InputMsg {
            seq: 7,
            input: ArenaInput {
                dir: [1.0, 0.0],
                buttons: 1,
            },
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode_event("input", &input());
        let (name, msg) = decode_event::<InputMsg<ArenaInput>>(&bytes).unwrap();
        assert_eq!(name, "input");
        assert_eq!(msg, input());
    }

    #[test]
    fn split_input_agrees_with_decoding_input_msg() {
        let event = encode_event("input", &input());
        let (_, arg) = split_event(&event).unwrap();
        let (seq, raw) = split_input(arg).unwrap();
        assert_eq!(seq, 7);
        assert_eq!(decode_value::<ArenaInput>(raw).unwrap(), input().input);
        // Every shape InputMsg refuses, split_input refuses too.
        let cases: Vec<Vec<u8>> = vec![
            rmp_serde::to_vec_named(&serde_json::json!({"seq": 1})).unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!({"input": {}})).unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!({"seq": -1, "input": {}})).unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!({"seq": 4294967296u64, "input": {}}))
                .unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!({"seq": 1.5, "input": {}})).unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!({"seq": 1, "input": {}, "x": 0})).unwrap(),
            rmp_serde::to_vec_named(&serde_json::json!([1, {}])).unwrap(),
            vec![
                0x82, 0xa3, b's', b'e', b'q', 0x01, 0xa3, b's', b'e', b'q', 0x02,
            ],
            vec![
                0x82, 0xa3, b's', b'e', b'q', 0x01, 0xa5, b'i', b'n', b'p', b'u', b't',
            ],
            vec![0x81, 0xa3, b's', b'e', b'q', 0x01, 0xc0],
        ];
        for case in cases {
            assert!(split_input(&case).is_err(), "{case:x?}");
            assert!(
                decode_map::<InputMsg<IgnoredAny>>(&case).is_err(),
                "{case:x?}"
            );
        }
        assert_eq!(
            decode_value::<u8>(&[0x01, 0x02]),
            Err(DecodeError::Trailing)
        );
    }

    #[test]
    fn refuses_wrong_shapes() {
        let mut trailing = encode_event("input", &input());
        trailing.push(0xc0);
        // the array says 2 elements, the extra byte is past the argument
        assert_eq!(
            decode_event::<InputMsg<ArenaInput>>(&trailing).unwrap_err(),
            DecodeError::Trailing
        );
        let as_array = rmp_serde::to_vec(&("input", (7u32, ([1.0f32, 0.0f32], 1u8)))).unwrap();
        assert_eq!(
            decode_event::<InputMsg<ArenaInput>>(&as_array).unwrap_err(),
            DecodeError::NotAMap
        );
        let two_args = rmp_serde::to_vec(&("input", 1, 2)).unwrap();
        assert_eq!(
            split_event(&two_args).unwrap_err(),
            DecodeError::ArgCount(2)
        );
        assert_eq!(split_event(&[0xc0]).unwrap_err(), DecodeError::NotAnEvent);
        assert_eq!(split_event(&[]).unwrap_err(), DecodeError::NotAnEvent);
        #[derive(serde::Serialize)]
        struct Wrong {
            seq: &'static str,
        }
        let wrong = encode_event("input", &Wrong { seq: "x" });
        assert_eq!(
            decode_event::<InputMsg<ArenaInput>>(&wrong).unwrap_err(),
            DecodeError::Shape
        );
    }
}
