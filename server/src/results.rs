//! Match results: one row per ended match — who played, the scores, how long, and why it
//! ended. Kept in an embedded SQLite database by default, so they survive a restart without
//! any server to run; with several nodes, in one PostgreSQL every node writes to and reads
//! from (`--results-db postgres://…`), so any node's admin API lists every node's results.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// PostgreSQL reported an error, or the connection to it failed.
    #[error("results store: postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL did not answer within [`POSTGRES_TIMEOUT`].
    #[error("results store: postgres did not answer within {POSTGRES_TIMEOUT:?}")]
    Timeout,
    /// A stored row did not decode.
    #[error("results store: corrupt row: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The blocking SQLite call did not complete (the runtime is shutting down).
    #[error("results store: the query was cancelled")]
    Cancelled,
}

/// Where results are kept.
#[derive(Debug)]
pub struct ResultStore {
    backend: Backend,
    /// Results that could not be written yet, oldest first (at most [`MAX_PENDING`]); written
    /// before the next result, and by [`ResultStore::retry`].
    pending: Mutex<VecDeque<MatchResult>>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Box<Postgres>),
}

/// Most results kept in memory while the store cannot be written; past it the oldest go.
pub const MAX_PENDING: usize = 10_000;

/// How often [`ResultStore::retry`] tries the results waiting to be written.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Longest list the store returns at once.
pub const MAX_LIST: usize = 1000;

/// The longest a PostgreSQL call (connecting included) may take.
pub const POSTGRES_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite schema.
const SQLITE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS match_results (
        match_id   TEXT PRIMARY KEY,
        ended_at   INTEGER NOT NULL,
        result     TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS match_results_ended ON match_results (ended_at DESC);
    CREATE TABLE IF NOT EXISTS match_recordings (
        match_id   TEXT PRIMARY KEY,
        ended_at   INTEGER NOT NULL,
        complete   INTEGER NOT NULL,
        log        BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS match_recordings_ended ON match_recordings (ended_at DESC);";

/// The PostgreSQL schema: the result as `jsonb`, so operators can query it in SQL.
const POSTGRES_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tickroom_match_results (
        match_id   TEXT PRIMARY KEY,
        ended_at   BIGINT NOT NULL,
        result     JSONB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS tickroom_match_results_ended
        ON tickroom_match_results (ended_at DESC);
    CREATE TABLE IF NOT EXISTS tickroom_match_recordings (
        match_id   TEXT PRIMARY KEY,
        ended_at   BIGINT NOT NULL,
        complete   BOOLEAN NOT NULL,
        log        BYTEA NOT NULL
    );
    CREATE INDEX IF NOT EXISTS tickroom_match_recordings_ended
        ON tickroom_match_recordings (ended_at DESC);";

impl ResultStore {
    /// Opens the store at `path`: a `postgres://` or `postgresql://` URL is a PostgreSQL
    /// database, connected to lazily (a node starts whether or not it is up; its table is
    /// created on first use); anything else is an SQLite file, created if needed, and
    /// `":memory:"` keeps results in memory only, for tests.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let text = path.to_string_lossy();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let config: tokio_postgres::Config = text.parse()?;
            return Ok(Self::with(Backend::Postgres(Box::new(Postgres {
                config,
                client: tokio::sync::Mutex::new(None),
            }))));
        }
        let conn = if path.as_os_str() == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        // WAL: a crash mid-write never loses earlier results, and readers do not block writes.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(SQLITE_SCHEMA)?;
        Ok(Self::with(Backend::Sqlite(Arc::new(Mutex::new(conn)))))
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// Which kind of store this is, for logs: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Records a result, replacing an earlier one for the same match id. If the store cannot
    /// be written (PostgreSQL away), the result waits in memory — behind any that already
    /// wait, so they are written in order — and the error says why.
    pub async fn record(&self, r: &MatchResult) -> Result<(), StoreError> {
        let written = match self.flush().await {
            Ok(_) => self.write(r).await,
            Err(e) => Err(e),
        };
        if written.is_err() {
            let mut pending = self.pending();
            if pending.len() >= MAX_PENDING
                && let Some(lost) = pending.pop_front()
            {
                tracing::error!(match_id = %lost.match_id, "results store: too many results waiting; the oldest is lost");
            }
            pending.push_back(r.clone());
        }
        written
    }

    /// How many results wait to be written.
    pub fn waiting(&self) -> usize {
        self.pending().len()
    }

    /// Writes the results that wait, oldest first, until one fails; returns how many were
    /// written.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let mut written = 0;
        loop {
            let Some(next) = self.pending().front().cloned() else {
                return Ok(written);
            };
            self.write(&next).await?;
            let mut pending = self.pending();
            if pending.front().is_some_and(|r| r.match_id == next.match_id) {
                pending.pop_front();
            }
            written += 1;
        }
    }

    /// Writes the waiting results every [`RETRY_EVERY`] until `stop`.
    pub async fn retry(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(RETRY_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => {}
            }
            if self.waiting() == 0 {
                continue;
            }
            match self.flush().await {
                Ok(n) => tracing::info!(written = n, "results store: waiting results written"),
                Err(e) => {
                    tracing::debug!(waiting = self.waiting(), error = %e, "results store: still unavailable")
                }
            }
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<MatchResult>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one result.
    async fn write(&self, r: &MatchResult) -> Result<(), StoreError> {
        let json = serde_json::to_string(r)?;
        let id = r.match_id.clone();
        let ended_at = r.ended_at as i64;
        match &self.backend {
            Backend::Sqlite(conn) => {
                sqlite(conn, move |c| {
                    c.execute(
                        "INSERT OR REPLACE INTO match_results (match_id, ended_at, result) \
                         VALUES (?1, ?2, ?3)",
                        params![id, ended_at, json],
                    )?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                pg.run(async |c| {
                    c.execute(
                        "INSERT INTO tickroom_match_results (match_id, ended_at, result) \
                         VALUES ($1, $2, CAST($3::text AS jsonb)) \
                         ON CONFLICT (match_id) DO UPDATE \
                         SET ended_at = EXCLUDED.ended_at, result = EXCLUDED.result",
                        &[&id, &ended_at, &json],
                    )
                    .await
                })
                .await?;
                Ok(())
            }
        }
    }

    /// The result of `match_id`, if recorded.
    pub async fn get(&self, match_id: &str) -> Result<Option<MatchResult>, StoreError> {
        let id = match_id.to_owned();
        let json: Option<String> = match &self.backend {
            Backend::Sqlite(conn) => {
                sqlite(conn, move |c| {
                    Ok(c.query_row(
                        "SELECT result FROM match_results WHERE match_id = ?1",
                        params![id],
                        |row| row.get(0),
                    )
                    .optional()?)
                })
                .await?
            }
            Backend::Postgres(pg) => pg
                .run(async |c| {
                    c.query_opt(
                        "SELECT result::text FROM tickroom_match_results WHERE match_id = $1",
                        &[&id],
                    )
                    .await
                })
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        };
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// The `limit` (at most [`MAX_LIST`]) most recently ended matches, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<MatchResult>, StoreError> {
        let limit = limit.min(MAX_LIST) as i64;
        let rows: Vec<String> = match &self.backend {
            Backend::Sqlite(conn) => {
                sqlite(conn, move |c| {
                    let mut stmt = c.prepare(
                        "SELECT result FROM match_results \
                         ORDER BY ended_at DESC, match_id LIMIT ?1",
                    )?;
                    let rows = stmt.query_map(params![limit], |row| row.get::<_, String>(0))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await?
            }
            Backend::Postgres(pg) => pg
                .run(async |c| {
                    c.query(
                        "SELECT result::text FROM tickroom_match_results \
                         ORDER BY ended_at DESC, match_id LIMIT $1",
                        &[&limit],
                    )
                    .await
                })
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?,
        };
        Ok(rows
            .iter()
            .map(|j| serde_json::from_str(j))
            .collect::<Result<_, _>>()?)
    }

    /// Keeps the command log of a match that ended at `ended_at` (docs/REPLAY.md), replacing
    /// an earlier one of the same id, then forgets all but the newest `keep` recordings.
    pub async fn save_recording(
        &self,
        match_id: &str,
        ended_at: u64,
        log: Vec<u8>,
        complete: bool,
        keep: usize,
    ) -> Result<(), StoreError> {
        let id = match_id.to_owned();
        let (ended_at, keep) = (ended_at as i64, keep as i64);
        match &self.backend {
            Backend::Sqlite(conn) => {
                sqlite(conn, move |c| {
                    c.execute(
                        "INSERT OR REPLACE INTO match_recordings (match_id, ended_at, complete, log) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![id, ended_at, complete, log],
                    )?;
                    c.execute(
                        "DELETE FROM match_recordings WHERE match_id NOT IN \
                         (SELECT match_id FROM match_recordings ORDER BY ended_at DESC, match_id LIMIT ?1)",
                        params![keep],
                    )?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                pg.run(async |c| {
                    c.execute(
                        "INSERT INTO tickroom_match_recordings (match_id, ended_at, complete, log) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (match_id) DO UPDATE SET ended_at = EXCLUDED.ended_at, \
                         complete = EXCLUDED.complete, log = EXCLUDED.log",
                        &[&id, &ended_at, &complete, &log],
                    )
                    .await?;
                    c.execute(
                        "DELETE FROM tickroom_match_recordings WHERE match_id NOT IN \
                         (SELECT match_id FROM tickroom_match_recordings \
                          ORDER BY ended_at DESC, match_id LIMIT $1)",
                        &[&keep],
                    )
                    .await
                })
                .await?;
                Ok(())
            }
        }
    }

    /// The command log kept for `match_id` and whether it is the whole match, if kept.
    pub async fn recording(&self, match_id: &str) -> Result<Option<(Vec<u8>, bool)>, StoreError> {
        let id = match_id.to_owned();
        match &self.backend {
            Backend::Sqlite(conn) => {
                sqlite(conn, move |c| {
                    Ok(c.query_row(
                        "SELECT log, complete FROM match_recordings WHERE match_id = ?1",
                        params![id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?)
                })
                .await
            }
            Backend::Postgres(pg) => {
                let row = pg
                    .run(async |c| {
                        c.query_opt(
                            "SELECT log, complete FROM tickroom_match_recordings WHERE match_id = $1",
                            &[&id],
                        )
                        .await
                    })
                    .await?;
                Ok(row
                    .map(|r| r.try_get(0).and_then(|log| Ok((log, r.try_get(1)?))))
                    .transpose()?)
            }
        }
    }
}

/// Runs `f` on the SQLite connection off the async threads (SQLite blocks).
async fn sqlite<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves SQLite consistent (each write is atomic).
        f(&conn.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await
    .map_err(|_| StoreError::Cancelled)?
}

/// A PostgreSQL database, over one connection made on first use and made again after it
/// fails.
struct Postgres {
    config: tokio_postgres::Config,
    client: tokio::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("host", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Runs `f` on the connection within [`POSTGRES_TIMEOUT`], connecting (and creating the
    /// table) first if needed. Calls run side by side on the one connection, which pipelines
    /// them; the lock is held only to take it.
    async fn run<T>(
        &self,
        f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let outcome = tokio::time::timeout(POSTGRES_TIMEOUT, async {
            let client = self.client().await?;
            Ok::<_, StoreError>(f(&client).await?)
        })
        .await
        .unwrap_or(Err(StoreError::Timeout));
        if outcome.is_err() {
            // Whatever failed, the next call starts from a fresh connection.
            *self.client.lock().await = None;
        }
        outcome
    }

    async fn client(&self) -> Result<Arc<tokio_postgres::Client>, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "results store: the postgres connection failed");
            }
        });
        // Two nodes starting together may both create the table: one of them gets a unique
        // violation on the catalogue, and the table is there for the next try.
        if let Err(e) = client.batch_execute(POSTGRES_SCHEMA).await {
            tracing::debug!(error = %e, "results store: creating the table raced; trying again");
            client.batch_execute(POSTGRES_SCHEMA).await?;
        }
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
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

    /// With the store unreachable (a PostgreSQL URL at a closed port), results wait in order,
    /// at most [`MAX_PENDING`] of them: past it the oldest goes.
    #[tokio::test]
    async fn results_wait_in_order_and_in_bounds_while_the_store_is_away() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://nobody@127.0.0.1:{port}/none");
        let store = ResultStore::open(Path::new(&url)).unwrap();
        assert_eq!(store.kind(), "postgres");
        for i in 0..=MAX_PENDING {
            let r = result(&format!("m{i}"), i as u64);
            assert!(store.record(&r).await.is_err(), "nothing listens there");
        }
        assert_eq!(store.waiting(), MAX_PENDING);
        {
            let pending = store.pending();
            assert_eq!(pending.front().unwrap().match_id, "m1", "the oldest went");
            assert_eq!(pending.back().unwrap().match_id, format!("m{MAX_PENDING}"));
        }
        assert!(store.flush().await.is_err());
        assert_eq!(
            store.waiting(),
            MAX_PENDING,
            "a failed flush keeps them all"
        );
    }

    #[tokio::test]
    async fn survives_reopening() {
        let path =
            std::env::temp_dir().join(format!("tickroom-results-{}.sqlite3", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let store = ResultStore::open(&path).unwrap();
            store.record(&result("m1", 10)).await.unwrap();
            store.record(&result("m2", 20)).await.unwrap();
        }
        let store = ResultStore::open(&path).unwrap();
        assert_eq!(store.get("m1").await.unwrap(), Some(result("m1", 10)));
        assert_eq!(store.get("nope").await.unwrap(), None);
        let recent = store.recent(10).await.unwrap();
        assert_eq!(
            recent
                .iter()
                .map(|r| r.match_id.as_str())
                .collect::<Vec<_>>(),
            ["m2", "m1"]
        );
        assert_eq!(store.recent(1).await.unwrap().len(), 1);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// The newest `keep` recordings stay, the older go; saving one again replaces it.
    #[tokio::test]
    async fn recordings_keep_the_newest() {
        let store = ResultStore::open(Path::new(":memory:")).unwrap();
        for (id, ended_at) in [("m1", 10), ("m2", 20), ("m3", 30)] {
            let log = id.as_bytes().to_vec();
            store
                .save_recording(id, ended_at, log, true, 2)
                .await
                .unwrap();
        }
        assert_eq!(store.recording("m1").await.unwrap(), None, "pushed out");
        assert_eq!(
            store.recording("m2").await.unwrap(),
            Some((b"m2".to_vec(), true))
        );
        store
            .save_recording("m2", 40, b"again".to_vec(), false, 2)
            .await
            .unwrap();
        assert_eq!(
            store.recording("m2").await.unwrap(),
            Some((b"again".to_vec(), false))
        );
        assert_eq!(
            store.recording("m3").await.unwrap(),
            Some((b"m3".to_vec(), true))
        );
    }
}
