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
    use super::*;
    use tickroom_shared::snapshot::{Encoder, Replicate};

    #[derive(Replicate)]
    struct Row {
        id: String,
        x: f32,
        #[replicate(step = 0.01)]
        y: f32,
    }

    #[test]
    fn transcodes_to_the_same_bytes() {
        let mut enc = Encoder::for_row::<Row>(2);
        enc.begin();
        let row = Row {
            id: "a".into(),
            x: 1.5,
            y: -2.0,
        };
        enc.push_row(3, &row).unwrap();
        let globals = std::collections::BTreeMap::from([("phase", 1.25f32)]);
        let bytes = enc
            .finish(9, [(0u32, "a", 3u32)].into_iter(), &globals)
            .to_vec();
        let again = rmp_serde::to_vec_named(&RawMsgpack(&bytes)).unwrap();
        assert_eq!(
            bytes, again,
            "floats stay float32, negatives stay signed, maps stay maps"
        );
    }
}
