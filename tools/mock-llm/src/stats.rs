//! Counters a test or the harness reads to check what the mock actually did (how many
//! streams a client abandoned, how many chunks went out), without parsing its traffic.
//! Relaxed atomics: each counter is independent and the server runs on one thread, so
//! they cost an uncontended add.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters of one server. Read them with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    streams_open: AtomicU64,
    streams_completed: AtomicU64,
    streams_cancelled: AtomicU64,
    chunks_sent: AtomicU64,
    completions: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `POST /v1/chat/completions` requests received, valid or not.
    pub requests: u64,
    /// Streams whose body is still being sent.
    pub streams_open: u64,
    /// Streams that reached their scheduled end (`[DONE]`, or the configured fault's end).
    pub streams_completed: u64,
    /// Streams whose client went away before the end.
    pub streams_cancelled: u64,
    /// Output chunks written, the zero-token `{"content":""}` extras included (not the
    /// role, finish or usage chunks).
    pub chunks_sent: u64,
    /// Non-streaming requests answered with a `chat.completion`.
    pub completions: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Relaxed),
            streams_open: self.streams_open.load(Relaxed),
            streams_completed: self.streams_completed.load(Relaxed),
            streams_cancelled: self.streams_cancelled.load(Relaxed),
            chunks_sent: self.chunks_sent.load(Relaxed),
            completions: self.completions.load(Relaxed),
        }
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_chunks(&self, n: u64) {
        self.chunks_sent.fetch_add(n, Relaxed);
    }

    pub(crate) fn count_completion(&self) {
        self.completions.fetch_add(1, Relaxed);
    }
}

impl StatsSnapshot {
    /// The body of `GET /mock/stats`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"requests\":{},\"streams_open\":{},\"streams_completed\":{},\"streams_cancelled\":{},\
             \"chunks_sent\":{},\"completions\":{}}}",
            self.requests,
            self.streams_open,
            self.streams_completed,
            self.streams_cancelled,
            self.chunks_sent,
            self.completions
        )
    }
}

/// Held by a stream body for its whole life. hyper drops the body as soon as it sees the
/// client go away, so `Drop` is where a cancellation is observed without any polling.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    stats: Arc<Stats>,
    completed: bool,
}

impl StreamGuard {
    pub(crate) fn open(stats: Arc<Stats>) -> Self {
        stats.streams_open.fetch_add(1, Relaxed);
        StreamGuard { stats, completed: false }
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The stream reached its scheduled end; dropping it is no longer a cancellation.
    pub(crate) fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let ended = if self.completed { &self.stats.streams_completed } else { &self.stats.streams_cancelled };
        ended.fetch_add(1, Relaxed);
        self.stats.streams_open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_completion_or_cancellation_on_drop() {
        let stats = Arc::new(Stats::default());
        let mut done = StreamGuard::open(stats.clone());
        let abandoned = StreamGuard::open(stats.clone());
        assert_eq!(stats.snapshot().streams_open, 2);
        done.complete();
        drop(done);
        drop(abandoned);
        let s = stats.snapshot();
        assert_eq!((s.streams_open, s.streams_completed, s.streams_cancelled), (0, 1, 1));
    }

    #[test]
    fn snapshot_json_parses() {
        let s = StatsSnapshot { requests: 1, chunks_sent: 5, ..Default::default() };
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["requests"], 1);
        assert_eq!(v["chunks_sent"], 5);
        assert_eq!(v["streams_cancelled"], 0);
    }
}
