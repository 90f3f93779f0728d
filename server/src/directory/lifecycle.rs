//! What happens once a match's room has closed: it is counted by end reason, its result (and
//! its recording) is saved, it stays readable for the retention period, then it leaves the
//! directory. Also
//! counts the rooms not yet closed, so a shutdown can wait for the last one instead of
//! polling.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tickroom_engine::{MatchRecorder, Recording};
use tickroom_shared::EndReason;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Match;
use crate::config::MatchConfig;
use crate::metrics::Metrics;
use crate::results::ResultStore;
use crate::runtime::Runtimes;

/// Follows every match from creation to the end of its retention.
#[derive(Debug)]
pub(super) struct Lifecycle {
    results: Option<Arc<ResultStore>>,
    /// With a results store and recordings kept: where rooms hand their command logs.
    recordings: Option<Arc<Recordings>>,
    retention: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    runtimes: Runtimes,
    /// Rooms created and not yet closed.
    open: watch::Sender<usize>,
}

impl Lifecycle {
    pub(super) fn new(
        results: Option<Arc<ResultStore>>,
        config: &MatchConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        runtimes: Runtimes,
    ) -> Self {
        let retention = config.ended_retention;
        let recordings = (results.is_some() && config.recordings_kept > 0).then(|| {
            Arc::new(Recordings {
                ended: DashMap::new(),
                kept: config.recordings_kept,
                max_bytes: config.recording_max_bytes,
            })
        });
        Self {
            results,
            recordings,
            retention,
            metrics,
            shutdown,
            runtimes,
            open: watch::Sender::new(0),
        }
    }

    pub(super) fn results(&self) -> Option<&Arc<ResultStore>> {
        self.results.as_ref()
    }

    /// What a new room records with: its log goes to the results store with its result.
    pub(super) fn recording(&self) -> Option<Recording> {
        self.recordings.as_ref().map(|r| Recording {
            recorder: r.clone(),
            max_bytes: r.max_bytes,
        })
    }

    /// Follows `m`, just listed under `id` in `matches`: once its room closes, saves its
    /// result, and after the retention period (or at shutdown) removes it, unless another
    /// match has taken its id meanwhile.
    pub(super) fn follow(
        &self,
        matches: Arc<DashMap<Arc<str>, Arc<Match>>>,
        id: Arc<str>,
        m: Arc<Match>,
    ) {
        self.open.send_modify(|n| *n += 1);
        let open = self.open.clone();
        let results = self.results.clone();
        let recordings = self.recordings.clone();
        let retention = self.retention;
        let metrics = self.metrics.clone();
        let shutdown = self.shutdown.clone();
        self.runtimes.spawn_io(async move {
            m.closed().await;
            let reason = m.end_reason();
            metrics.match_ended(m.info().game, reason);
            if reason == EndReason::Moved {
                // It goes on elsewhere, where its result and recording will be saved. Listed
                // here a while yet — through a drain too — so its late clients are sent there.
                tracing::info!(match_id = %id, game = m.info().game, to = m.moved_to().unwrap_or_default(), tick = m.tick(), "match moved");
                open.send_modify(|n| *n -= 1);
                tokio::time::sleep(retention).await;
                matches.remove_if(&id, |_, v| Arc::ptr_eq(v, &m));
                return;
            }
            tracing::info!(match_id = %id, game = m.info().game, reason = reason.as_str(), tick = m.tick(), "match ended");
            if let Some(store) = results {
                save(&store, &m).await;
                if let Some(recordings) = recordings {
                    recordings.save(&store, &id).await;
                }
            }
            open.send_modify(|n| *n -= 1);
            let still_listed = matches.get(&id).is_some_and(|v| Arc::ptr_eq(v.value(), &m));
            if !still_listed {
                // Ended through the admin API: already gone from the directory.
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(retention) => {}
                _ = shutdown.cancelled() => {}
            }
            matches.remove_if(&id, |_, v| Arc::ptr_eq(v, &m));
        });
    }

    /// Rooms created and not yet closed (their results not yet saved).
    pub(super) fn open(&self) -> usize {
        *self.open.borrow()
    }

    /// Resolves once every room created so far has closed and its result is saved.
    pub(super) async fn all_closed(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Saves `m`'s result; a failure is logged, never fatal.
async fn save(store: &ResultStore, m: &Match) {
    let result = m.result();
    if let Err(e) = store.record(&result).await {
        tracing::error!(match_id = %result.match_id, store = store.kind(), waiting = store.waiting(), error = %e, "result not saved yet: it waits in memory and is retried");
    }
}

/// Command logs of rooms that ended, waiting to be saved beside their results (moments: the
/// room hands its log over as it closes, and the lifecycle saves it right after the result).
#[derive(Debug)]
pub(super) struct Recordings {
    ended: DashMap<String, (Vec<u8>, bool)>,
    kept: usize,
    max_bytes: usize,
}

impl MatchRecorder for Recordings {
    fn recorded(&self, match_id: &str, log: Vec<u8>, complete: bool) {
        self.ended.insert(match_id.to_owned(), (log, complete));
    }
}

impl Recordings {
    /// Saves the log `id`'s room handed over, if any; a failure is logged (the log is lost:
    /// unlike results, recordings do not wait in memory for the store to come back).
    async fn save(&self, store: &ResultStore, id: &str) {
        let Some((_, (log, complete))) = self.ended.remove(id) else {
            return;
        };
        let bytes = log.len();
        let ended_at = tickroom_shared::token::unix_now();
        match store
            .save_recording(id, ended_at, log, complete, self.kept)
            .await
        {
            Ok(()) => tracing::debug!(match_id = %id, bytes, complete, "recording saved"),
            Err(e) => {
                tracing::error!(match_id = %id, store = store.kind(), error = %e, "recording not saved")
            }
        }
    }
}
