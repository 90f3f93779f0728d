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
    use tickroom_shared::Snapshot;
    use tickroom_shared::games::arena::{ArenaPlayer, ArenaState};

    #[test]
    fn transcodes_to_the_same_value() {
        let snap = Snapshot {
            tick: 9,
            acks: [("a".to_owned(), 3)].into_iter().collect(),
            state: ArenaState {
                players: vec![ArenaPlayer {
                    id: "a".into(),
                    x: 1.5,
                    y: 2.0,
                }],
            },
        };
        let bytes = rmp_serde::to_vec_named(&snap).unwrap();
        let again = rmp_serde::to_vec_named(&RawMsgpack(&bytes)).unwrap();
        assert_eq!(bytes, again);
    }
}
