//! Match results, kept in an embedded SQLite database so they survive a restart without any
//! server to run. One row per ended match: who played, the scores, how long, and why it ended.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tickroom_shared::EndReason;

/// The outcome of one match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    /// Match id.
    pub match_id: String,
    /// Game name.
    pub game: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// End time, seconds since the Unix epoch.
    pub ended_at: u64,
    /// Time from the first tick to the end, milliseconds (0 if it never ticked).
    pub duration_ms: u64,
    /// Why it ended.
    pub end_reason: EndReason,
    /// Ticks run.
    pub ticks: u64,
    /// Players seated at the end, sorted.
    pub players: Vec<String>,
    /// The game's scores by player id (empty for games without scores).
    pub scores: BTreeMap<String, i64>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("results store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row did not decode.
    #[error("results store: corrupt row: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Where results are kept.
#[derive(Debug)]
pub struct ResultStore {
    conn: Mutex<Connection>,
}

/// Longest list the store returns at once.
pub const MAX_LIST: usize = 1000;

impl ResultStore {
    /// Opens (creating if needed) the database at `path`; `":memory:"` keeps results in memory
    /// only, for tests.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = if path.as_os_str() == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        // WAL: a crash mid-write never loses earlier results, and readers do not block writes.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS match_results (
                match_id   TEXT PRIMARY KEY,
                ended_at   INTEGER NOT NULL,
                result     TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS match_results_ended ON match_results (ended_at DESC);",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each write is atomic).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a result, replacing an earlier one for the same match id.
    pub fn record(&self, r: &MatchResult) -> Result<(), StoreError> {
        let json = serde_json::to_string(r)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO match_results (match_id, ended_at, result) VALUES (?1, ?2, ?3)",
            params![r.match_id, r.ended_at as i64, json],
        )?;
        Ok(())
    }

    /// The result of `match_id`, if recorded.
    pub fn get(&self, match_id: &str) -> Result<Option<MatchResult>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT result FROM match_results WHERE match_id = ?1",
                params![match_id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// The `limit` (at most [`MAX_LIST`]) most recently ended matches, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<MatchResult>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT result FROM match_results ORDER BY ended_at DESC, match_id LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit.min(MAX_LIST) as i64], |row| {
            row.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, ended_at: u64) -> MatchResult {
        MatchResult {
            match_id: id.into(),
            game: "tictactoe".into(),
            created_at: 1,
            ended_at,
            duration_ms: 1500,
            end_reason: EndReason::GameOver,
            ticks: 45,
            players: vec!["ann".into(), "bob".into()],
            scores: [("ann".to_owned(), 1), ("bob".to_owned(), 0)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn survives_reopening() {
        let path =
            std::env::temp_dir().join(format!("tickroom-results-{}.sqlite3", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let store = ResultStore::open(&path).unwrap();
            store.record(&result("m1", 10)).unwrap();
            store.record(&result("m2", 20)).unwrap();
        }
        let store = ResultStore::open(&path).unwrap();
        assert_eq!(store.get("m1").unwrap(), Some(result("m1", 10)));
        assert_eq!(store.get("nope").unwrap(), None);
        let recent = store.recent(10).unwrap();
        assert_eq!(
            recent
                .iter()
                .map(|r| r.match_id.as_str())
                .collect::<Vec<_>>(),
            ["m2", "m1"]
        );
        assert_eq!(store.recent(1).unwrap().len(), 1);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
