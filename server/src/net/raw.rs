//! Emitting bytes that are already msgpack as if they were a serde value.

use serde::{Serialize, Serializer};

/// Msgpack bytes that serialize as the value they encode (not as a binary blob), so a room's
/// pre-encoded snapshot reaches clients as a plain msgpack map. Transcoding happens once per
/// broadcast, not once per socket.
#[derive(Debug, Clone, Copy)]
pub struct RawMsgpack<'a>(pub &'a [u8]);

impl Serialize for RawMsgpack<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut de = rmp_serde::Deserializer::from_read_ref(self.0);
        serde_transcode::transcode(&mut de, serializer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use tickroom_shared::snapshot::Encoder;

    #[test]
    fn transcodes_to_the_same_bytes() {
        let mut enc = Encoder::new(&["id", "x", "y"], 2);
        enc.begin();
        enc.push(3, &("a", 1.5f32, 2.0f32)).unwrap();
        let acks: BTreeMap<String, u32> = [("a".to_owned(), 3)].into_iter().collect();
        let bytes = enc.finish(9, &acks, &()).to_vec();
        let again = rmp_serde::to_vec_named(&RawMsgpack(&bytes)).unwrap();
        assert_eq!(bytes, again, "floats stay float32, maps stay maps");
    }
}
