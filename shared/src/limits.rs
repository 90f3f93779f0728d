//! Protocol-level bounds that both sides check.

/// Longest accepted match id or player id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Lowest tick rate a match may be created with, in Hz.
pub const MIN_TICK_RATE: u32 = 1;

/// Highest tick rate a match may be created with, in Hz.
pub const MAX_TICK_RATE: u32 = 120;

/// Largest number of players a single match may be created with.
pub const MAX_PLAYERS_PER_MATCH: u32 = 256;

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
