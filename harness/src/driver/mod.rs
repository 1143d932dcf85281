//! The one load driver. Rate control (closed loop, or open loop at a constant or Poisson
//! rate) and the stop condition (duration or count) are independent options of one
//! [`LoadSpec`], not copies of a loop.
//!
//! - **Closed loop:** C connections, each sending its next request as soon as the previous
//!   answer is read. Latency runs from the send to the last body byte. Measures capacity;
//!   it hides coordinated omission, so its latencies are not the headline.
//! - **Open loop:** request k is *scheduled* at t_k (k/R, or Poisson arrivals). Latency runs
//!   from t_k, so time spent waiting for a free connection counts (the wrk2 correction).
//!   The pool grows up to a bound; a request that cannot get a connection within the request
//!   timeout of its scheduled time is not sent and counts as `dropped` (k6's dropped
//!   iterations).
//!
//! Latencies go into hdrhistograms (µs, 1 µs to 60 s, 3 significant digits), one per
//! connection, merged at the end, so the hot path takes no lock.

pub mod conn;
pub mod payloads;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use self::conn::{Conn, Outcome};
pub use self::payloads::PayloadSet;
use crate::interrupt::{Cancel, Interrupted};

/// Largest latency the histograms hold (60 s, in µs).
pub const MAX_LATENCY_US: u64 = 60_000_000;
/// Closed-loop request timers are re-armed when less than this is left (see `closed`).
pub const TIMER_SLACK: Duration = Duration::from_secs(1);
/// One response in this many has its body fully checked against the expected answer.
pub const CHECK_EVERY: u64 = 100;
/// The open-loop scheduler looks for a cancel at least this often.
const CANCEL_POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Arrival {
    Constant,
    Poisson { seed: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Closed { connections: usize },
    Open { rate_rps: f64, arrival: Arrival, max_connections: usize },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Measure for this long after the warm-up.
    Duration(Duration),
    /// Measure until this many responses were recorded (closed loop), or this many requests
    /// were scheduled (open loop).
    Count(u64),
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub mode: Mode,
    pub warmup: Duration,
    pub stop: Stop,
    /// A request not answered within this is an error of kind `timeout`.
    pub request_timeout: Duration,
}

pub use crate::results::ErrorCounts;

/// What one connection (or the whole run, once merged) recorded.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: ErrorCounts,
    pub bytes_received: u64,
    pub bodies_checked: u64,
    /// First few body-check failures, for the report.
    pub mismatches: Vec<String>,
    /// SSE figures, once a streamed answer was recorded.
    pub stream: Option<StreamRecorder>,
}

/// Streaming figures (docs/metrics.md, "Streaming"), in µs.
#[derive(Debug, Clone)]
pub struct StreamRecorder {
    /// From the send (closed loop) or scheduled (open loop) time to the first token event.
    pub ttft_us: Histogram<u64>,
    /// Every gap between consecutive token events, pooled across streams.
    pub itl_us: Histogram<u64>,
    /// (E2E − TTFT) ÷ (tokens − 1), per stream of at least 2 tokens.
    pub tpot_us: Histogram<u64>,
    pub tokens: u64,
    pub streams_complete: u64,
    pub streams_incomplete: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_LATENCY_US)
}

impl Default for StreamRecorder {
    fn default() -> Self {
        Self {
            ttft_us: histogram(),
            itl_us: histogram(),
            tpot_us: histogram(),
            tokens: 0,
            streams_complete: 0,
            streams_incomplete: 0,
        }
    }
}

impl StreamRecorder {
    fn record(&mut self, t: &conn::StreamTiming, start: Instant, e2e: Duration) {
        if t.complete {
            self.streams_complete += 1;
        } else {
            self.streams_incomplete += 1;
        }
        self.tokens += t.token_events_at.len() as u64;
        let Some(&first) = t.token_events_at.first() else { return };
        let ttft = first.saturating_duration_since(start);
        self.ttft_us.saturating_record(micros(ttft));
        for w in t.token_events_at.windows(2) {
            self.itl_us.saturating_record(micros(w[1].saturating_duration_since(w[0])));
        }
        let n = t.token_events_at.len() as u32;
        if n >= 2 {
            self.tpot_us.saturating_record(micros(e2e.saturating_sub(ttft) / (n - 1)));
        }
    }

    /// Adds another recorder's streams (merging repeats).
    pub fn merge_from(&mut self, o: &StreamRecorder) {
        self.merge(o)
    }

    fn merge(&mut self, o: &StreamRecorder) {
        self.ttft_us.add(&o.ttft_us).expect("same bounds");
        self.itl_us.add(&o.itl_us).expect("same bounds");
        self.tpot_us.add(&o.tpot_us).expect("same bounds");
        self.tokens += o.tokens;
        self.streams_complete += o.streams_complete;
        self.streams_incomplete += o.streams_incomplete;
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            latency_us: histogram(),
            statuses: BTreeMap::new(),
            errors: ErrorCounts::default(),
            bytes_received: 0,
            bodies_checked: 0,
            mismatches: Vec::new(),
            stream: None,
        }
    }
}

impl Recorder {
    /// Completed responses (any status).
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Records one exchange that started (was sent, or scheduled) at `start` and took `latency`.
    fn record(&mut self, outcome: Outcome, start: Instant, latency: Duration) {
        match outcome {
            Outcome::Response { status, bytes, mismatch, stream } => {
                self.latency_us.saturating_record(micros(latency));
                if let Some(t) = &stream {
                    self.stream.get_or_insert_with(StreamRecorder::default).record(t, start, latency);
                }
                *self.statuses.entry(status).or_default() += 1;
                self.bytes_received += bytes;
                match mismatch {
                    conn::Check::NotChecked => {}
                    conn::Check::Passed => self.bodies_checked += 1,
                    conn::Check::WrongStatus => self.errors.unexpected_status += 1,
                    conn::Check::WrongBody(why) => {
                        self.bodies_checked += 1;
                        self.errors.body_mismatch += 1;
                        if self.mismatches.len() < 5 {
                            self.mismatches.push(why);
                        }
                    }
                }
            }
            Outcome::Connect => self.errors.connect += 1,
            Outcome::Timeout => self.errors.timeout += 1,
            // Callers resend a stale request; should one reach here, it failed.
            Outcome::Reset | Outcome::Stale => self.errors.reset += 1,
        }
    }

    /// Adds another recorder's exchanges (merging repeats).
    pub fn merge_from(&mut self, other: &Recorder) {
        self.merge(other)
    }

    fn merge(&mut self, other: &Recorder) {
        self.latency_us.add(&other.latency_us).expect("same histogram bounds");
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.errors.add(&other.errors);
        self.bytes_received += other.bytes_received;
        self.bodies_checked += other.bodies_checked;
        for m in &other.mismatches {
            if self.mismatches.len() < 5 {
                self.mismatches.push(m.clone());
            }
        }
        if let Some(o) = &other.stream {
            self.stream.get_or_insert_with(StreamRecorder::default).merge(o);
        }
    }
}

/// The result of one measured window.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub recorded: Recorder,
    /// Start and end of the measured window (warm-up excluded).
    pub window_start: Instant,
    pub window_end: Instant,
    /// Open loop: scheduled requests that never started before the window ended.
    pub dropped: u64,
    /// Open loop: requests scheduled in the window.
    pub scheduled: u64,
    /// Connections opened during the whole run, warm-up included.
    pub connections_opened: u64,
}

impl LoadResult {
    pub fn window(&self) -> Duration {
        self.window_end - self.window_start
    }

    /// Responses recorded per second of window.
    pub fn throughput_rps(&self) -> f64 {
        self.recorded.responses() as f64 / self.window().as_secs_f64().max(1e-9)
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOPPED: u8 = 2;

/// Shared by every task of one run.
#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    next: AtomicU64,
    recorded: AtomicU64,
    opened: AtomicU64,
    target: workloads::conformance::http::Target,
    payloads: PayloadSet,
    spec: LoadSpec,
    /// Ends the run early (a signal): the driver stops sending and returns [`Interrupted`].
    cancel: &'static Cancel,
}

/// Runs one measured window (after its warm-up) against `base_url`. A signal
/// ([`crate::interrupt::PROCESS`]) ends it early with [`Interrupted`].
pub async fn run(base_url: &str, payloads: PayloadSet, spec: LoadSpec) -> anyhow::Result<LoadResult> {
    run_until(base_url, payloads, spec, &crate::interrupt::PROCESS).await
}

/// [`run`], ended early by `cancel`: no request is sent after it fires (within the poll of
/// the connection or scheduler that is running), and the run returns [`Interrupted`] rather
/// than a truncated window that would read as a measurement.
pub async fn run_until(
    base_url: &str,
    payloads: PayloadSet,
    spec: LoadSpec,
    cancel: &'static Cancel,
) -> anyhow::Result<LoadResult> {
    if cancel.is_cancelled() {
        return Err(Interrupted.into());
    }
    let target = workloads::conformance::http::Target::parse(base_url)?;
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(if spec.warmup.is_zero() { MEASURE } else { WARMUP }),
        next: AtomicU64::new(0),
        recorded: AtomicU64::new(0),
        opened: AtomicU64::new(0),
        target,
        payloads,
        spec: spec.clone(),
        cancel,
    });
    match spec.mode {
        Mode::Closed { connections } => closed(shared, connections).await,
        Mode::Open { rate_rps, arrival, max_connections } => open(shared, rate_rps, arrival, max_connections).await,
    }
}

/// Opens a connection to the target and counts it in `opened`.
async fn connect(shared: &Shared) -> std::io::Result<Conn> {
    let c = Conn::open(&shared.target).await?;
    shared.opened.fetch_add(1, Ordering::Relaxed);
    Ok(c)
}

/// Waits out the warm-up, then the window; returns the window's edges.
async fn window(shared: &Shared) -> (Instant, Instant) {
    tokio::time::sleep(shared.spec.warmup).await;
    shared.phase.store(MEASURE, Ordering::SeqCst);
    let start = Instant::now();
    match shared.spec.stop {
        Stop::Duration(d) => tokio::time::sleep(d).await,
        Stop::Count(n) => {
            while shared.recorded.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    shared.phase.store(STOPPED, Ordering::SeqCst);
    (start, Instant::now())
}

async fn closed(shared: Arc<Shared>, connections: usize) -> anyhow::Result<LoadResult> {
    // Connections start evenly over the first half of the warm-up rather than all at once:
    // a burst of thousands of connects overflows any accept queue, and connections that
    // start together stay in lockstep when every exchange takes the same time (infer-io,
    // generate), so the server would see waves instead of a steady load.
    let ramp = shared.spec.warmup / 2;
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let shared = shared.clone();
            let start_after = ramp.mul_f64(i as f64 / connections as f64);
            // `unconstrained`: the closed loop yields on every I/O wait anyway, and tokio's
            // cooperative budget would only add bookkeeping to each poll.
            tokio::spawn(tokio::task::unconstrained(closed_connection(shared, start_after)))
        })
        .collect();
    let edges = tokio::select! {
        edges = window(&shared) => Some(edges),
        () = shared.cancel.cancelled() => None,
    };
    let Some((window_start, window_end)) = edges else {
        return Err(stop_now(&shared, &workers));
    };
    let mut recorded = Recorder::default();
    for w in workers {
        recorded.merge(&w.await?);
    }
    Ok(LoadResult {
        recorded,
        window_start,
        window_end,
        dropped: 0,
        scheduled: 0,
        connections_opened: shared.opened.load(Ordering::Relaxed),
    })
}

/// One closed-loop connection: after `start_after`, sends its next request as soon as the
/// last is answered, until the run stops; records the exchanges that end in the window.
async fn closed_connection(shared: Arc<Shared>, start_after: Duration) -> Recorder {
    if !start_after.is_zero() {
        tokio::time::sleep(start_after).await;
    }
    let mut rec = Recorder::default();
    let mut conn: Option<Conn> = None;
    // One timer per connection, re-armed only when less than TIMER_SLACK is left:
    // each request's timeout is between request_timeout − TIMER_SLACK and
    // request_timeout.
    let timeout = shared.spec.request_timeout;
    let mut deadline = std::pin::pin!(tokio::time::sleep(timeout));
    loop {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == STOPPED {
            break;
        }
        let c = match conn.take() {
            Some(c) => c,
            None => match connect(&shared).await {
                Ok(c) => c,
                Err(_) => {
                    if phase == MEASURE {
                        rec.record(Outcome::Connect, Instant::now(), Duration::ZERO);
                    }
                    // Do not spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        let req = shared.payloads.get(k);
        let sent = Instant::now();
        let now = tokio::time::Instant::from_std(sent);
        if deadline.deadline().saturating_duration_since(now) < timeout.min(TIMER_SLACK) {
            deadline.as_mut().reset(now + timeout);
        }
        let (outcome, c) = c.send(req, k.is_multiple_of(CHECK_EVERY), deadline.as_mut()).await;
        let took = sent.elapsed();
        if matches!(outcome, Outcome::Stale) {
            // Nothing was sent: the next turn opens a fresh connection.
            continue;
        }
        conn = c;
        // Count the exchanges that *ended* inside the window: completions per second
        // of window is unbiased in steady state (which the warm-up reaches), even
        // for exchanges longer than the window, such as SSE streams.
        if shared.phase.load(Ordering::Relaxed) == MEASURE {
            rec.record(outcome, sent, took);
            shared.recorded.fetch_add(1, Ordering::Relaxed);
        }
    }
    rec
}

/// The open-loop pool: idle connections, each with its own recorder, bounded by a semaphore.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<(Option<Conn>, Recorder)>>,
    permits: tokio::sync::Semaphore,
    done: Mutex<Vec<Recorder>>,
    dropped: AtomicU64,
    scheduled: AtomicU64,
}

async fn open(shared: Arc<Shared>, rate: f64, arrival: Arrival, max_connections: usize) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(rate > 0.0 && rate.is_finite(), "open-loop rate must be positive, got {rate}");
    let pool = Arc::new(Pool {
        idle: Mutex::new(Vec::new()),
        permits: tokio::sync::Semaphore::new(max_connections),
        done: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
        scheduled: AtomicU64::new(0),
    });
    let start = Instant::now();
    let total = shared.spec.warmup + if let Stop::Duration(d) = shared.spec.stop { d } else { Duration::ZERO };
    let warmup_end = start + shared.spec.warmup;
    let count_limit = if let Stop::Count(n) = shared.spec.stop { Some(n) } else { None };
    let end = start + total;

    // The schedule runs on its own thread: tokio's timer has 1 ms granularity, a thread's
    // sleep is within tens of µs. Lateness of the scheduler itself counts as latency.
    let handle = tokio::runtime::Handle::current();
    let sched_shared = shared.clone();
    let sched_pool = pool.clone();
    let scheduler = std::thread::Builder::new().name("open-loop-scheduler".into()).spawn(move || {
        let mut rng = workloads::model::SplitMix64::new(match arrival {
            Arrival::Poisson { seed } => seed,
            Arrival::Constant => 0,
        });
        let mut t = 0.0f64; // seconds since start
        let mut in_window = 0u64;
        let mut tasks = Vec::new();
        loop {
            let gap = match arrival {
                Arrival::Constant => 1.0 / rate,
                Arrival::Poisson { .. } => {
                    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                    -(1.0 - u).ln() / rate
                }
            };
            t += gap;
            let at = start + Duration::from_secs_f64(t);
            let measured = at >= warmup_end;
            if count_limit.is_some_and(|n| measured && in_window >= n) || (count_limit.is_none() && at >= end) {
                break;
            }
            if !sleep_until(at, sched_shared.cancel) {
                return tasks;
            }
            if measured {
                in_window += 1;
                sched_pool.scheduled.fetch_add(1, Ordering::Relaxed);
            }
            let k = sched_shared.next.fetch_add(1, Ordering::Relaxed);
            tasks.push(handle.spawn(one_open_request(sched_shared.clone(), sched_pool.clone(), k, at, measured)));
            if tasks.len() >= 4096 {
                tasks.retain(|t| !t.is_finished());
            }
        }
        tasks
    })?;
    let tasks = tokio::task::spawn_blocking(move || scheduler.join())
        .await?
        .map_err(|_| anyhow::anyhow!("scheduler panicked"))?;
    if shared.cancel.is_cancelled() {
        return Err(stop_now(&shared, &tasks));
    }
    let window_end = if count_limit.is_none() { end } else { Instant::now() };
    shared.phase.store(STOPPED, Ordering::SeqCst);
    for t in tasks {
        t.await?;
    }
    let mut recorded = Recorder::default();
    for (_, rec) in pool.idle.lock().expect("pool lock").drain(..) {
        recorded.merge(&rec);
    }
    for rec in pool.done.lock().expect("pool lock").drain(..) {
        recorded.merge(&rec);
    }
    Ok(LoadResult {
        recorded,
        window_start: warmup_end,
        window_end,
        dropped: pool.dropped.load(Ordering::Relaxed),
        scheduled: pool.scheduled.load(Ordering::Relaxed),
        connections_opened: shared.opened.load(Ordering::Relaxed),
    })
}

/// Sleeps until `at` in slices, so that a cancel is seen within one even at low rates;
/// `false` when cancelled first.
fn sleep_until(at: Instant, cancel: &Cancel) -> bool {
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if at <= now {
            return true;
        }
        std::thread::sleep((at - now).min(CANCEL_POLL));
    }
}

/// A cancelled run: nothing more is sent, every task is dropped where it is.
fn stop_now<T>(shared: &Shared, tasks: &[tokio::task::JoinHandle<T>]) -> anyhow::Error {
    shared.phase.store(STOPPED, Ordering::SeqCst);
    for t in tasks {
        t.abort();
    }
    Interrupted.into()
}

async fn one_open_request(shared: Arc<Shared>, pool: Arc<Pool>, k: u64, scheduled: Instant, measured: bool) {
    // Wait for a connection slot no later than the end of the window; a request that cannot
    // start by then is dropped, not silently left out.
    let deadline = tokio::time::Instant::from_std(scheduled.max(Instant::now()) + shared.spec.request_timeout);
    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, pool.permits.acquire()).await else {
        if measured {
            pool.dropped.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    let (mut conn, mut rec) = pool.idle.lock().expect("pool lock").pop().unwrap_or_default();
    let req = shared.payloads.get(k);
    let mut deadline = std::pin::pin!(tokio::time::sleep(shared.spec.request_timeout));
    // At most two tries: a pooled connection that proves stale is replaced once.
    for _ in 0..2 {
        let c = match conn.take() {
            Some(c) => c,
            None => match connect(&shared).await {
                Ok(c) => c,
                Err(_) => {
                    if measured {
                        rec.record(Outcome::Connect, Instant::now(), Duration::ZERO);
                    }
                    break;
                }
            },
        };
        let (outcome, c) = c.send(req, k.is_multiple_of(CHECK_EVERY), deadline.as_mut()).await;
        if matches!(outcome, Outcome::Stale) {
            continue;
        }
        if measured {
            // From the *scheduled* time: waiting for a connection is part of the latency.
            rec.record(outcome, scheduled, scheduled.elapsed());
        }
        conn = c;
        break;
    }
    pool.idle.lock().expect("pool lock").push((conn, rec));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_counts_and_merges() {
        let now = Instant::now();
        let ok = |status, bytes, mismatch| Outcome::Response { status, bytes, mismatch, stream: None };
        let mut a = Recorder::default();
        a.record(ok(200, 10, conn::Check::Passed), now, Duration::from_micros(500));
        a.record(Outcome::Timeout, now, Duration::ZERO);
        let mut b = Recorder::default();
        b.record(ok(422, 5, conn::Check::NotChecked), now, Duration::from_millis(2));
        a.merge(&b);
        assert_eq!(a.responses(), 2);
        assert_eq!(a.errors.timeout, 1);
        assert_eq!(a.bytes_received, 15);
        assert_eq!(a.latency_us.len(), 2);
        assert!(a.latency_us.value_at_quantile(1.0) >= 1990);
        assert!(a.stream.is_none());
    }

    #[test]
    fn stream_figures_follow_their_definitions() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // TTFT 30 ms, then gaps of 20, 20, 40 ms; E2E 115 ms.
        let t = conn::StreamTiming { token_events_at: vec![at(30), at(50), at(70), at(110)], complete: true };
        let mut r = Recorder::default();
        let outcome = Outcome::Response { status: 200, bytes: 100, mismatch: conn::Check::NotChecked, stream: Some(t) };
        r.record(outcome, start, Duration::from_millis(115));
        let s = r.stream.unwrap();
        assert_eq!((s.tokens, s.streams_complete), (4, 1));
        assert!((29_970..=30_030).contains(&s.ttft_us.value_at_quantile(0.5)));
        assert_eq!(s.itl_us.len(), 3);
        assert!((39_960..=40_040).contains(&s.itl_us.max()));
        // TPOT = (115 − 30) / 3 ≈ 28.3 ms.
        assert!((28_300..=28_360).contains(&s.tpot_us.value_at_quantile(0.5)), "{}", s.tpot_us.value_at_quantile(0.5));
    }
}
