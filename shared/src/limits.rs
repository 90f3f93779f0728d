//! Protocol-level bounds that both sides check.

/// Longest accepted match id or player id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Lowest tick rate a match may be created with, in Hz.
pub const MIN_TICK_RATE: u32 = 1;

/// Highest tick rate a match may be created with, in Hz.
pub const MAX_TICK_RATE: u32 = 120;

/// Largest number of players a single match may be created with.
pub const MAX_PLAYERS_PER_MATCH: u32 = 1024;

/// How far ahead of the last applied input a `seq` may jump. An input further ahead is
/// refused: one bogus `seq` (`u32::MAX`, say) would otherwise make every later input of the
/// seat look old — and ignored — for the rest of the seat's life, reconnections included. A
/// client that counts one input per tick needs 2.2 years at 60 inputs a second to spend the
/// whole range; the seat's sequence then ends, and the player rejoins as a new seat.
pub const MAX_SEQ_JUMP: u32 = 1 << 16;

/// Whether `id` is an acceptable match or player id: 1..=[`MAX_ID_LEN`] bytes of ASCII letters,
/// digits, `-`, `_`, `.` or `:`. Ids appear in room names, logs and URLs, so the set is narrow.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("alice"));
        assert!(is_valid_id("m-1_2.3:4"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("é"));
        assert!(!is_valid_id(&"x".repeat(MAX_ID_LEN + 1)));
        assert!(is_valid_id(&"x".repeat(MAX_ID_LEN)));
    }
}
