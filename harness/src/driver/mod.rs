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
use self::payloads::Streamed;
use crate::interrupt::{Cancel, Interrupted};

/// Largest latency the histograms hold (60 s, in µs).
pub const MAX_LATENCY_US: u64 = 60_000_000;
/// A closed-loop request's timeout may fall short of the request timeout by at most this
/// (one timer per connection, re-armed once this much of it has run: see [`rearm`]).
pub const TIMER_SLACK: Duration = Duration::from_secs(1);
/// One response in this many has its body fully checked against the expected answer.
pub const CHECK_EVERY: u64 = 100;
/// The open-loop scheduler looks for a cancel at least this often.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// A failed request (transport error, timeout, unexpected status, or an open-loop request
/// dropped for want of a connection) enters the latency histogram at this value: above
/// every request timeout, so a percentile that falls among failures reads as at least the
/// timeout ("> timeout" in reports), never as a survivor's latency (docs/metrics.md).
pub const FAILED_US: u64 = crate::results::FAILED_US;
/// Closed-loop connections start this far apart (at most over half the warm-up): a burst of
/// thousands of connects would overflow an accept queue.
pub const RAMP_STEP: Duration = Duration::from_millis(1);
/// Closed-loop exchanges at least this long are phase-aligned after their first exchange
/// (see `closed`); shorter ones mix by themselves within the warm-up.
pub const ALIGN_FROM: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Arrival {
    Constant,
    Poisson {
        seed: u64,
    },
    /// Gaps Gamma-distributed with this shape b and scale 1/(rate·b): the mean rate is kept;
    /// b = 1 is Poisson, b < 1 burstier (gaps' CV 1/√b), b > 1 more regular.
    Gamma {
        shape: f64,
        seed: u64,
    },
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
    /// OpenAI chat figures, once a chat answer was recorded.
    pub chat: Option<ChatRecorder>,
    /// Sum of the latencies of the answered requests (failures excluded), in µs: their mean.
    pub answered_latency_sum_us: u64,
    /// Open loop: the driver's own send lag of each request of the window, in µs: from its
    /// scheduled time to when its task first ran, so the scheduler's lateness and the
    /// runtime's delay in picking the task up, not a wait for a connection (which the
    /// server's slowness causes). Empty for the closed loop.
    pub send_lag_us: Histogram<u64>,
    /// For payloads with an exchange floor (infer-io's latency, a stream's token delays):
    /// each answered request's latency minus that floor, in µs, in its own histogram, so
    /// an overhead of 1 ms is read to 1 µs, not to the 128 µs bucket of a 200 ms latency.
    pub overhead_us: Histogram<u64>,
    /// Open loop: (scheduled, done) of every request, warm-up included, in µs since the run
    /// started; `done` is `None` for a request that got no answer. Turned into the window's
    /// completions and its thirds' medians when the run ends.
    timeline: Vec<(u64, Option<u64>)>,
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

/// Chat figures (docs/metrics.md, "Chat"), in µs, by the rules of `crate::openai`. A failed
/// request enters TTFT, vLLM's TTFT and E2EL at [`FAILED_US`], as it enters the latency;
/// ITL and TPOT hold complete streams only.
#[derive(Debug, Clone)]
pub struct ChatRecorder {
    pub ttft_us: Histogram<u64>,
    pub ttft_vllm_us: Histogram<u64>,
    pub itl_us: Histogram<u64>,
    pub tpot_us: Histogram<u64>,
    pub e2el_us: Histogram<u64>,
    pub streams_complete: u64,
    pub streams_incomplete: u64,
    pub output_tokens: u64,
    pub output_chunks: u64,
    pub reasoning_chunks: u64,
    pub tokens_from_usage: u64,
    pub tokens_from_chunks: u64,
    /// Complete streams that met every `chat` objective (`PayloadSet::chat_limits`).
    pub good: u64,
}

impl Default for ChatRecorder {
    fn default() -> Self {
        Self {
            ttft_us: histogram(),
            ttft_vllm_us: histogram(),
            itl_us: histogram(),
            tpot_us: histogram(),
            e2el_us: histogram(),
            streams_complete: 0,
            streams_incomplete: 0,
            output_tokens: 0,
            output_chunks: 0,
            reasoning_chunks: 0,
            tokens_from_usage: 0,
            tokens_from_chunks: 0,
            good: 0,
        }
    }
}

impl ChatRecorder {
    /// A complete stream, started (scheduled or sent) at `start`.
    fn record(&mut self, t: &conn::ChatTiming, start: Instant, limits: &crate::slo::ChatLimits) {
        let f = t.stream.figures(t.sent.saturating_duration_since(start));
        self.streams_complete += 1;
        let (Some(ttft), Some(e2el)) = (f.ttft, f.e2el) else { return };
        self.ttft_us.saturating_record(micros(ttft));
        self.e2el_us.saturating_record(micros(e2el));
        if let Some(v) = f.ttft_vllm {
            self.ttft_vllm_us.saturating_record(micros(v));
        }
        for gap in t.stream.itl() {
            self.itl_us.saturating_record(micros(gap));
        }
        if let Some(tpot) = f.tpot {
            self.tpot_us.saturating_record(micros(tpot));
        }
        self.output_tokens += f.output_tokens;
        self.output_chunks += t.stream.output_at.len() as u64;
        self.reasoning_chunks += t.stream.reasoning_chunks;
        if f.tokens_from_usage {
            self.tokens_from_usage += 1;
        } else {
            self.tokens_from_chunks += 1;
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        if limits.met(us(ttft), f.tpot.map(us), us(e2el)) {
            self.good += 1;
        }
    }

    /// A failed request: its first-token and end-to-end times are failures.
    fn record_failed(&mut self) {
        self.streams_incomplete += 1;
        for h in [&mut self.ttft_us, &mut self.ttft_vllm_us, &mut self.e2el_us] {
            h.saturating_record(FAILED_US);
        }
    }

    /// Adds another recorder's streams (merging repeats).
    pub fn merge_from(&mut self, o: &ChatRecorder) {
        for (a, b) in [
            (&mut self.ttft_us, &o.ttft_us),
            (&mut self.ttft_vllm_us, &o.ttft_vllm_us),
            (&mut self.itl_us, &o.itl_us),
            (&mut self.tpot_us, &o.tpot_us),
            (&mut self.e2el_us, &o.e2el_us),
        ] {
            a.add(b).expect("same bounds");
        }
        self.streams_complete += o.streams_complete;
        self.streams_incomplete += o.streams_incomplete;
        self.output_tokens += o.output_tokens;
        self.output_chunks += o.output_chunks;
        self.reasoning_chunks += o.reasoning_chunks;
        self.tokens_from_usage += o.tokens_from_usage;
        self.tokens_from_chunks += o.tokens_from_chunks;
        self.good += o.good;
    }
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
            chat: None,
            answered_latency_sum_us: 0,
            send_lag_us: histogram(),
            overhead_us: histogram(),
            timeline: Vec::new(),
        }
    }
}

impl Recorder {
    /// Completed responses (any status).
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answered requests (any status) whose latency is in `answered_latency_sum_us`.
    pub fn answered(&self) -> u64 {
        self.responses() - self.errors.unexpected_status
    }

    /// Mean latency of the answered requests, in µs (failures excluded).
    pub fn answered_mean_us(&self) -> Option<f64> {
        let n = self.answered();
        (n > 0).then(|| self.answered_latency_sum_us as f64 / n as f64)
    }

    /// Failed requests recorded here: transport errors, timeouts and unexpected statuses
    /// (each entered the histogram at [`FAILED_US`]).
    pub fn failed(&self) -> u64 {
        self.errors.connect + self.errors.timeout + self.errors.reset + self.errors.unexpected_status
    }

    /// Records one exchange that started (was sent, or scheduled) at `start` and took
    /// `latency`; `streamed` says how the request asked for its answer to stream (a stream
    /// that breaks mid-way then counts as incomplete). `limits` are the `chat` objectives.
    fn record(
        &mut self,
        outcome: Outcome,
        start: Instant,
        latency: Duration,
        streamed: Streamed,
        limits: &crate::slo::ChatLimits,
    ) {
        let failed = |rec: &mut Self| {
            rec.latency_us.saturating_record(FAILED_US);
            match streamed {
                Streamed::Tokens => rec.stream.get_or_insert_with(StreamRecorder::default).streams_incomplete += 1,
                Streamed::Chat => rec.chat.get_or_insert_with(ChatRecorder::default).record_failed(),
                Streamed::No => {}
            }
        };
        match outcome {
            Outcome::Response { status, bytes, mismatch, stream, chat } => {
                if mismatch == conn::Check::WrongStatus {
                    // An unexpected status is a failure, whatever its latency.
                    self.latency_us.saturating_record(FAILED_US);
                    if streamed == Streamed::Chat {
                        self.chat.get_or_insert_with(ChatRecorder::default).record_failed();
                    }
                } else {
                    self.latency_us.saturating_record(micros(latency));
                    self.answered_latency_sum_us += micros(latency);
                }
                if let Some(t) = &stream {
                    self.stream.get_or_insert_with(StreamRecorder::default).record(t, start, latency);
                }
                if let Some(t) = &chat {
                    self.chat.get_or_insert_with(ChatRecorder::default).record(t, start, limits);
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
            Outcome::Connect => {
                self.errors.connect += 1;
                failed(self);
            }
            Outcome::Timeout => {
                self.errors.timeout += 1;
                failed(self);
            }
            // Callers resend a stale request; should one reach here, it failed.
            Outcome::Reset | Outcome::Stale => {
                self.errors.reset += 1;
                failed(self);
            }
            // A malformed answer: a failure of kind `reset`, its reason kept.
            Outcome::Broken(why) => {
                self.errors.reset += 1;
                if self.mismatches.len() < 5 {
                    self.mismatches.push(why);
                }
                failed(self);
            }
        }
    }

    /// A connection that could not be opened for a request of `payloads`.
    fn record_connect_failure(&mut self, payloads: &PayloadSet) {
        let kind = payloads.connect_failure_kind();
        self.record(Outcome::Connect, Instant::now(), Duration::ZERO, kind, &payloads.chat_limits);
    }

    /// An answered request's latency beyond `floor` into `overhead_us` (nothing without a
    /// floor, or for a failure: failures are in `latency_us` at [`FAILED_US`]).
    fn record_overhead(&mut self, outcome: &Outcome, latency: Duration, floor: Duration) {
        let answered = matches!(outcome, Outcome::Response { mismatch, .. } if *mismatch != conn::Check::WrongStatus);
        if answered && !floor.is_zero() {
            self.overhead_us.saturating_record(micros(latency.saturating_sub(floor)));
        }
    }

    /// Adds another recorder's exchanges (merging repeats).
    pub fn merge_from(&mut self, other: &Recorder) {
        self.merge(other)
    }

    fn merge(&mut self, other: &Recorder) {
        self.latency_us.add(&other.latency_us).expect("same histogram bounds");
        self.send_lag_us.add(&other.send_lag_us).expect("same histogram bounds");
        self.overhead_us.add(&other.overhead_us).expect("same histogram bounds");
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.errors.add(&other.errors);
        self.bytes_received += other.bytes_received;
        self.answered_latency_sum_us += other.answered_latency_sum_us;
        self.timeline.extend_from_slice(&other.timeline);
        self.bodies_checked += other.bodies_checked;
        for m in &other.mismatches {
            if self.mismatches.len() < 5 {
                self.mismatches.push(m.clone());
            }
        }
        if let Some(o) = &other.stream {
            self.stream.get_or_insert_with(StreamRecorder::default).merge(o);
        }
        if let Some(o) = &other.chat {
            self.chat.get_or_insert_with(ChatRecorder::default).merge_from(o);
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
    /// Open loop: scheduled requests that could not get a connection within the request
    /// timeout of their scheduled time (each is in the histogram at [`FAILED_US`]).
    pub dropped: u64,
    /// Open loop: requests scheduled in the window.
    pub scheduled: u64,
    /// Responses (any status) that ended inside the window, whenever they were sent: the
    /// throughput's numerator (docs/metrics.md, "Throughput"). Closed loop: every recorded
    /// response; open loop: also answers to warm-up requests, and not the answers to the
    /// window's requests that arrive after it.
    pub completed_in_window: u64,
    /// Open loop: the window's own requests that got an answer, whenever it came.
    pub answered_of_window: Option<u64>,
    /// Open loop: the latency p50 (µs, failures at [`FAILED_US`]) of the requests scheduled
    /// in each third of the window, for the `overloaded` rule.
    pub thirds_p50_us: Option<[u64; 3]>,
    /// Open loop: the requests a server that keeps up would have answered inside the window
    /// ([`due_in_window`]), for the `overloaded` rule.
    pub due_in_window: Option<u64>,
    /// Closed loop: how long the window's start waited past the warm-up for every
    /// connection to reach its phase (see `closed`).
    pub alignment_wait: Duration,
    /// Connections opened during the whole run, warm-up included.
    pub connections_opened: u64,
}

impl LoadResult {
    pub fn window(&self) -> Duration {
        self.window_end - self.window_start
    }

    /// Responses completed inside the window per second of window: the work done there
    /// (CPU per response divides by it).
    pub fn completed_rps(&self) -> f64 {
        self.completed_in_window as f64 / self.window().as_secs_f64().max(1e-9)
    }

    /// The throughput: [`completed_rps`](Self::completed_rps), except that an open-loop
    /// window is credited at most the answers its own requests got: a backlog of warm-up
    /// requests answered inside the window (a stall before it) is catch-up, not a rate the
    /// server sustained at the offered load, and read up to 5.7% above the offered rate.
    /// Each count estimates the steady completion rate and errs on its own side of it
    /// (docs/metrics.md, "How throughput is counted").
    pub fn throughput_rps(&self) -> f64 {
        let n = self.answered_of_window.map_or(self.completed_in_window, |a| a.min(self.completed_in_window));
        n as f64 / self.window().as_secs_f64().max(1e-9)
    }
}

/// Open loop: the window's completions, the answers its own requests got, and its thirds'
/// medians, from the timeline (µs since the run started; the window is `[from, to]`).
fn window_figures(timeline: &[(u64, Option<u64>)], from: u64, to: u64) -> (u64, u64, [u64; 3]) {
    let completed = timeline.iter().filter(|(_, done)| done.is_some_and(|d| d >= from && d <= to)).count() as u64;
    let answered = timeline.iter().filter(|(at, done)| *at >= from && *at < to && done.is_some()).count() as u64;
    let mut thirds = [histogram(), histogram(), histogram()];
    let span = to.saturating_sub(from).max(1);
    for &(at, done) in timeline.iter().filter(|(at, _)| *at >= from && *at < to) {
        let third = (((at - from) * 3 / span) as usize).min(2);
        let value = done.map_or(FAILED_US, |d| d.saturating_sub(at).clamp(1, MAX_LATENCY_US));
        thirds[third].saturating_record(value);
    }
    (completed, answered, thirds.map(|h| h.value_at_quantile(0.5)))
}

/// Open loop: how many of the run's requests would have been answered inside the window
/// `[from, to]` by a server that keeps up, each taking the window's median latency L: those
/// scheduled in `[from − L, to − L)`. For exchanges much shorter than the window this is the
/// window's own count; for long ones (a 310 ms chat stream in a 4 s window) it is the
/// count the completions should match, where the window's own count is off by the
/// difference of two spans' arrivals (±4% there, which read as `overloaded`). L is taken at
/// most the warm-up (`from`), so the span never reaches before the run.
fn due_in_window(timeline: &[(u64, Option<u64>)], from: u64, to: u64) -> u64 {
    let mut took: Vec<u64> = timeline
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .filter_map(|&(at, done)| done.map(|d| d.saturating_sub(at)))
        .collect();
    if took.is_empty() {
        return timeline.iter().filter(|(at, _)| *at >= from && *at < to).count() as u64;
    }
    took.sort_unstable();
    let shift = took[took.len() / 2].min(from);
    timeline.iter().filter(|(at, _)| *at + shift >= from && *at + shift < to).count() as u64
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOPPED: u8 = 2;

/// Shared by every task of one run.
#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    next: AtomicU64,
    /// Exchanges (any outcome) that ended inside the window: the count a `Stop::Count` waits for.
    recorded: AtomicU64,
    /// Closed loop: responses that ended inside the window (the throughput's numerator).
    completed: AtomicU64,
    opened: AtomicU64,
    /// Closed loop: connections that have reached their phase (see `closed`).
    aligned: AtomicU64,
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
        completed: AtomicU64::new(0),
        opened: AtomicU64::new(0),
        aligned: AtomicU64::new(0),
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

/// Waits out the warm-up (and, closed loop, until the `connections` have reached their
/// phases, at most one request timeout longer), then the window; returns the window's
/// edges and how long the alignment held the start back.
async fn window(shared: &Shared, connections: u64) -> (Instant, Instant, Duration) {
    tokio::time::sleep(shared.spec.warmup).await;
    let warm = Instant::now();
    while shared.aligned.load(Ordering::Relaxed) < connections && warm.elapsed() < shared.spec.request_timeout {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let waited = warm.elapsed();
    shared.phase.store(MEASURE, Ordering::SeqCst);
    crate::sampler::request_pss();
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
    crate::sampler::request_pss();
    (start, Instant::now(), if connections == 0 { Duration::ZERO } else { waited })
}

/// The closed loop. Connections start [`RAMP_STEP`] apart, over at most the first half of
/// the warm-up, rather than all at once (a burst of thousands of connects overflows any
/// accept queue). Connections whose exchanges all take about the same time T (generate's
/// streams, infer-io) would then complete in step, and a window a few exchanges long would
/// count 2 per connection for any T between W/2 and W/3·2 or so: the count would be fixed
/// by the set-up, not measured. So after its first exchange (of length T₁, at least
/// [`ALIGN_FROM`]) connection i waits until its phase is i/C of T₁ from the run's start;
/// with the phases spread evenly over one exchange, completions in any window are C·W/T
/// to within one, and throughput = completions in the window ÷ window is right for
/// exchanges of any length (docs/metrics.md, "Throughput"). The window starts once every
/// connection is aligned (the plan's warm-up covers it: `workload::Window::for_closed`).
async fn closed(shared: Arc<Shared>, connections: usize) -> anyhow::Result<LoadResult> {
    let origin = Instant::now();
    let ramp = (shared.spec.warmup / 2).min(RAMP_STEP * connections as u32);
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let shared = shared.clone();
            let phase = i as f64 / connections as f64;
            let start_after = ramp.mul_f64(phase);
            // `unconstrained`: the closed loop yields on every I/O wait anyway, and tokio's
            // cooperative budget would only add bookkeeping to each poll.
            tokio::spawn(tokio::task::unconstrained(closed_connection(shared, start_after, origin, phase)))
        })
        .collect();
    let edges = tokio::select! {
        edges = window(&shared, connections as u64) => Some(edges),
        () = shared.cancel.cancelled() => None,
    };
    let Some((window_start, window_end, alignment_wait)) = edges else {
        return Err(stop_now(&shared, &workers));
    };
    let mut recorded = Recorder::default();
    for w in workers {
        recorded.merge(&w.await?);
    }
    Ok(LoadResult {
        completed_in_window: shared.completed.load(Ordering::Relaxed),
        answered_of_window: None,
        recorded,
        window_start,
        window_end,
        dropped: 0,
        scheduled: 0,
        thirds_p50_us: None,
        due_in_window: None,
        alignment_wait,
        connections_opened: shared.opened.load(Ordering::Relaxed),
    })
}

/// How long connection `phase` (i/C) waits after a first exchange of `took`, ended at
/// `now`, so that its next one starts `phase` × `took` after `origin` (modulo `took`).
fn alignment_wait(origin: Instant, now: Instant, took: Duration, phase: f64) -> Duration {
    if took < ALIGN_FROM {
        return Duration::ZERO;
    }
    let period = took.as_secs_f64();
    let at = (now - origin).as_secs_f64();
    Duration::from_secs_f64((phase * period - at).rem_euclid(period))
}

/// Whether a closed-loop connection's timer, with `left` to run, must be re-armed before
/// the next request so that the request gets at least `timeout − TIMER_SLACK` (or half
/// of a timeout shorter than twice the slack). Re-arming only when the timer is nearly
/// out would leave a request started just before that as little as the slack itself: a
/// stream longer than the slack then failed as a `timeout` though it took a fraction of
/// the request timeout.
pub fn rearm(left: Duration, timeout: Duration) -> bool {
    left < timeout - TIMER_SLACK.min(timeout / 2)
}

/// One closed-loop connection: after `start_after`, sends its next request as soon as the
/// last is answered (after its first, once, the wait that aligns its phase), until the run
/// stops. It records the latency of every request *sent* in the window, waiting for the last
/// to end after it (so a request that waits long is not left out: the latencies are an
/// unbiased sample, as the open loop's scheduled requests are), and counts the responses
/// that *end* in the window (the throughput: completions per second of window, unbiased in
/// steady state even for exchanges longer than the window, such as SSE streams).
async fn closed_connection(shared: Arc<Shared>, start_after: Duration, origin: Instant, phase: f64) -> Recorder {
    if !start_after.is_zero() {
        tokio::time::sleep(start_after).await;
    }
    let mut rec = Recorder::default();
    let mut conn: Option<Conn> = None;
    let mut aligned = false;
    // One timer per connection, re-armed by `rearm`: each request's timeout is between
    // request_timeout − TIMER_SLACK and request_timeout.
    let timeout = shared.spec.request_timeout;
    let mut deadline = std::pin::pin!(tokio::time::sleep(timeout));
    loop {
        let phase_now = shared.phase.load(Ordering::Relaxed);
        if phase_now == STOPPED {
            break;
        }
        let c = match conn.take() {
            Some(c) => c,
            None => match connect(&shared).await {
                Ok(c) => c,
                Err(_) => {
                    if phase_now == MEASURE {
                        rec.record_connect_failure(&shared.payloads);
                    }
                    if !aligned {
                        aligned = true;
                        shared.aligned.fetch_add(1, Ordering::Relaxed);
                    }
                    // Do not spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        let req = shared.payloads.get(k);
        let sent_in_window = shared.phase.load(Ordering::Relaxed) == MEASURE;
        let sent = Instant::now();
        let now = tokio::time::Instant::from_std(sent);
        if rearm(deadline.deadline().saturating_duration_since(now), timeout) {
            deadline.as_mut().reset(now + timeout);
        }
        let (outcome, c) = c.send(req, k.is_multiple_of(CHECK_EVERY), deadline.as_mut()).await;
        let took = sent.elapsed();
        if matches!(outcome, Outcome::Stale) {
            // Nothing was sent: the next turn opens a fresh connection.
            continue;
        }
        conn = c;
        if shared.phase.load(Ordering::Relaxed) == MEASURE {
            if matches!(outcome, Outcome::Response { .. }) {
                shared.completed.fetch_add(1, Ordering::Relaxed);
            }
            shared.recorded.fetch_add(1, Ordering::Relaxed);
        }
        if sent_in_window {
            rec.record_overhead(&outcome, took, shared.payloads.exchange_floor);
            rec.record(outcome, sent, took, req.streamed(), &shared.payloads.chat_limits);
        }
        if !aligned {
            aligned = true;
            let wait = alignment_wait(origin, Instant::now(), took, phase);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            shared.aligned.fetch_add(1, Ordering::Relaxed);
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
    let warmup = shared.spec.warmup;
    let warmup_end = start + warmup;
    let count_limit = if let Stop::Count(n) = shared.spec.stop { Some(n) } else { None };
    let end = start + total;

    // The schedule runs on its own thread: tokio's timer has 1 ms granularity, a thread's
    // sleep is within tens of µs. Lateness of the scheduler itself counts as latency.
    let handle = tokio::runtime::Handle::current();
    let sched_shared = shared.clone();
    let sched_pool = pool.clone();
    let scheduler = std::thread::Builder::new().name("open-loop-scheduler".into()).spawn(move || {
        let mut rng = workloads::model::SplitMix64::new(match arrival {
            Arrival::Poisson { seed } | Arrival::Gamma { seed, .. } => seed,
            Arrival::Constant => 0,
        });
        let mut t = 0.0f64; // seconds since start
        let mut in_window = 0u64;
        let mut tasks = Vec::new();
        // Poisson over a set window: the process conditioned on its count (docs/metrics.md,
        // "How latency is timed"), so the window offers exactly R × W requests.
        let mut planned = match (arrival, count_limit) {
            (Arrival::Poisson { seed }, None) => {
                Some(conditioned_poisson(rate, warmup.as_secs_f64(), (total - warmup).as_secs_f64(), seed).into_iter())
            }
            (Arrival::Gamma { shape, seed }, _) => {
                // A count-limited run schedules more than it needs and stops at the count.
                let window = match count_limit {
                    Some(n) => n as f64 / rate * 2.0 + 1.0,
                    None => (total - warmup).as_secs_f64(),
                };
                Some(conditioned_gamma(rate, shape, warmup.as_secs_f64(), window, seed).into_iter())
            }
            _ => None,
        };
        loop {
            if let Some(p) = planned.as_mut() {
                let Some(next) = p.next() else { break };
                t = next;
            } else {
                t += match arrival {
                    Arrival::Constant => 1.0 / rate,
                    Arrival::Poisson { .. } | Arrival::Gamma { .. } => {
                        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                        -(1.0 - u).ln() / rate
                    }
                };
            }
            let at = start + Duration::from_secs_f64(t);
            let measured = at >= warmup_end;
            if count_limit.is_some_and(|n| measured && in_window >= n) || (count_limit.is_none() && at >= end) {
                break;
            }
            if !sleep_until(at, sched_shared.cancel) {
                return tasks;
            }
            if measured {
                if in_window == 0 {
                    crate::sampler::request_pss();
                }
                in_window += 1;
                sched_pool.scheduled.fetch_add(1, Ordering::Relaxed);
            }
            let k = sched_shared.next.fetch_add(1, Ordering::Relaxed);
            tasks.push(handle.spawn(one_open_request(
                sched_shared.clone(),
                sched_pool.clone(),
                k,
                (start, at),
                measured,
            )));
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
    crate::sampler::request_pss();
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
    let dropped = pool.dropped.load(Ordering::Relaxed);
    // A dropped request is a failure: it counts in the percentiles as at least its timeout.
    // (Only when there are some: hdrhistogram's `record_n` moves the maximum even for a
    // count of 0, which put every open-loop point's max at the failure value.)
    if dropped > 0 {
        recorded.latency_us.record_n(FAILED_US, dropped).expect("FAILED_US is within the histogram's bounds");
    }
    let us = |t: Instant| t.saturating_duration_since(start).as_micros() as u64;
    let timeline = std::mem::take(&mut recorded.timeline);
    let (completed_in_window, answered_of_window, thirds) = window_figures(&timeline, us(warmup_end), us(window_end));
    let due = due_in_window(&timeline, us(warmup_end), us(window_end));
    Ok(LoadResult {
        recorded,
        window_start: warmup_end,
        window_end,
        dropped,
        scheduled: pool.scheduled.load(Ordering::Relaxed),
        completed_in_window,
        answered_of_window: Some(answered_of_window),
        thirds_p50_us: Some(thirds),
        due_in_window: Some(due),
        alignment_wait: Duration::ZERO,
        connections_opened: shared.opened.load(Ordering::Relaxed),
    })
}

/// Poisson arrivals at `rate` over a warm-up and a window, conditioned on their counts:
/// round(rate × warm-up) and round(rate × window) arrival times, each set uniform over its
/// span, sorted (seconds since the start). A Poisson process given its count is exactly
/// this (the order statistics of uniforms), so the gaps are still memoryless, but the window
/// offers R × W requests, not a draw around it: unconditioned, 2 s at 250/s offered 487, and
/// at 4,207/s 2.7% more than the rate, which read as throughput above the offered rate.
pub fn conditioned_poisson(rate: f64, warmup_s: f64, window_s: f64, seed: u64) -> Vec<f64> {
    let mut rng = workloads::model::SplitMix64::new(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let mut span = |from: f64, len: f64| -> Vec<f64> {
        let n = (rate * len).round() as usize;
        let mut v: Vec<f64> = (0..n).map(|_| from + uniform() * len).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let mut times = span(0.0, warmup_s);
    times.extend(span(warmup_s, window_s));
    times
}

/// Gamma-gapped arrivals at `rate` over a warm-up and a window, each span holding
/// round(rate × span) arrivals: per span, n + 1 gaps of Gamma(b, 1), scaled so that they sum
/// to the span (seconds since the start). Gaps of one shape divided by their sum are
/// Dirichlet(b, …, b), independent of the sum, so this is the Gamma renewal process given
/// that its (n + 1)-th arrival ends the span: the gaps keep their shape (CV 1/√b), and the
/// window offers exactly R × W requests, as [`conditioned_poisson`] does (at b = 1 the two
/// are the same process: uniform order statistics).
pub fn conditioned_gamma(rate: f64, shape: f64, warmup_s: f64, window_s: f64, seed: u64) -> Vec<f64> {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let gamma = rand_distr::Gamma::new(shape, 1.0).expect("a positive shape (checked by the command line)");
    let mut span = |from: f64, len: f64| -> Vec<f64> {
        let n = (rate * len).round() as usize;
        let gaps: Vec<f64> = (0..=n).map(|_| gamma.sample(&mut rng)).collect();
        let scale = len / gaps.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        gaps[..n]
            .iter()
            .scan(from, |t, g| {
                *t += g * scale;
                Some(*t)
            })
            .collect()
    };
    let mut times = span(0.0, warmup_s);
    times.extend(span(warmup_s, window_s));
    times
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

/// One open-loop request, scheduled at `at` (`origin` is the run's start). Its one deadline,
/// the request timeout from its scheduled time, covers the wait for a connection and the
/// exchange, so no answer is recorded later than that (docs/metrics.md, "Open loop").
async fn one_open_request(
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    k: u64,
    (origin, at): (Instant, Instant),
    measured: bool,
) {
    let woke = Instant::now();
    let us = |t: Instant| t.saturating_duration_since(origin).as_micros() as u64;
    let deadline = tokio::time::Instant::from_std(at + shared.spec.request_timeout);
    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, pool.permits.acquire()).await else {
        if measured {
            pool.dropped.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    let (mut conn, mut rec) = pool.idle.lock().expect("pool lock").pop().unwrap_or_default();
    if measured {
        rec.send_lag_us.saturating_record(micros(woke.saturating_duration_since(at)));
    }
    let req = shared.payloads.get(k);
    let mut deadline = std::pin::pin!(tokio::time::sleep_until(deadline));
    let mut answered = None;
    // At most two tries: a pooled connection that proves stale is replaced once.
    for _ in 0..2 {
        let c = match conn.take() {
            Some(c) => c,
            None => match connect(&shared).await {
                Ok(c) => c,
                Err(_) => {
                    if measured {
                        rec.record_connect_failure(&shared.payloads);
                    }
                    break;
                }
            },
        };
        let (outcome, c) = c.send(req, k.is_multiple_of(CHECK_EVERY), deadline.as_mut()).await;
        if matches!(outcome, Outcome::Stale) {
            continue;
        }
        let done = Instant::now();
        if matches!(outcome, Outcome::Response { .. }) {
            answered = Some(us(done));
        }
        if measured {
            // From the *scheduled* time: waiting for a connection is part of the latency.
            rec.record_overhead(&outcome, done - at, shared.payloads.exchange_floor);
            rec.record(outcome, at, done - at, req.streamed(), &shared.payloads.chat_limits);
        }
        conn = c;
        break;
    }
    rec.timeline.push((us(at), answered));
    pool.idle.lock().expect("pool lock").push((conn, rec));
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: crate::slo::ChatLimits = crate::slo::ChatLimits { ttft_us: None, tpot_us: None, e2el_us: None };

    /// Every closed-loop request gets at least the request timeout less the slack, however
    /// long the requests before it took: the shared timer must not cut a 1.3 s stream
    /// short because it was armed 8.9 s earlier (the bug this replaces).
    #[test]
    fn a_closed_loop_request_gets_the_request_timeout_less_the_slack() {
        for timeout_ms in [10_000u64, 2_500, 1_000, 300] {
            let timeout = Duration::from_millis(timeout_ms);
            let floor = timeout - TIMER_SLACK.min(timeout / 2);
            for took_ms in [1u64, 7, 150, 999, 1_000, 1_310, 2_000] {
                let took = Duration::from_millis(took_ms);
                // Simulate one connection's timer over consecutive requests of `took` each.
                let mut left = timeout;
                for _ in 0..200 {
                    if rearm(left, timeout) {
                        left = timeout;
                    }
                    assert!(left >= floor, "timeout {timeout:?}, requests of {took:?}: only {left:?} left");
                    assert!(left <= timeout);
                    left = left.saturating_sub(took);
                }
            }
        }
        // The timer is not re-armed per request on a cheap endpoint (that cost is why it is shared).
        assert!(!rearm(Duration::from_millis(9_500), Duration::from_secs(10)));
        assert!(rearm(Duration::from_millis(8_900), Duration::from_secs(10)));
    }

    /// The open loop's Poisson schedule offers exactly R × W requests in the window (the
    /// process conditioned on its count), with gaps still exponential: mean 1/R, CV about 1.
    #[test]
    fn poisson_arrivals_offer_exactly_the_rate_over_the_window() {
        let times = conditioned_poisson(250.0, 0.5, 2.0, 0x5EED);
        let window: Vec<f64> = times.iter().copied().filter(|&t| t >= 0.5).collect();
        assert_eq!((times.len(), window.len()), (625, 500), "125 in the warm-up, 500 in the window");
        assert!(times.windows(2).all(|w| w[0] <= w[1]) && times.iter().all(|&t| (0.0..2.5).contains(&t)));
        let big = conditioned_poisson(4207.0, 0.0, 20.0, 7);
        assert_eq!(big.len(), 84_140);
        let gaps: Vec<f64> = big.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((mean * 4207.0 - 1.0).abs() < 0.01, "mean gap {mean}");
        assert!((sd / mean - 1.0).abs() < 0.03, "exponential gaps have CV 1: {}", sd / mean);
    }

    /// Gamma gaps keep the mean rate exactly over the window and have the shape's CV
    /// (1/√b); b = 1 is Poisson's CV of 1.
    #[test]
    fn gamma_arrivals_keep_the_rate_and_vary_by_their_shape() {
        for (b, cv_want) in [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5)] {
            let times = conditioned_gamma(1000.0, b, 0.5, 20.0, 7);
            let window: Vec<f64> = times.iter().copied().filter(|&t| t >= 0.5).collect();
            assert_eq!((times.len(), window.len()), (20_500, 20_000), "b={b}");
            assert!(times.windows(2).all(|w| w[0] <= w[1]) && times.iter().all(|&t| (0.0..20.5).contains(&t)));
            let gaps: Vec<f64> = window.windows(2).map(|w| w[1] - w[0]).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
            assert!((mean * 1000.0 - 1.0).abs() < 0.01, "b={b}: mean gap {mean}");
            assert!((sd / mean / cv_want - 1.0).abs() < 0.05, "b={b}: CV {} (want {cv_want})", sd / mean);
        }
        assert_eq!(conditioned_gamma(100.0, 0.5, 0.0, 1.0, 3), conditioned_gamma(100.0, 0.5, 0.0, 1.0, 3), "seeded");
    }

    #[test]
    fn recorder_counts_and_merges() {
        let now = Instant::now();
        let ok = |status, bytes, mismatch| Outcome::Response { status, bytes, mismatch, stream: None, chat: None };
        let mut a = Recorder::default();
        a.record(ok(200, 10, conn::Check::Passed), now, Duration::from_micros(500), Streamed::No, &L);
        a.record(Outcome::Timeout, now, Duration::ZERO, Streamed::No, &L);
        let mut b = Recorder::default();
        b.record(ok(422, 5, conn::Check::NotChecked), now, Duration::from_millis(2), Streamed::No, &L);
        a.merge(&b);
        assert_eq!(a.responses(), 2);
        assert_eq!(a.errors.timeout, 1);
        assert_eq!(a.bytes_received, 15);
        assert!(a.stream.is_none());
        // The timeout is in the histogram too, above every answer: percentiles are over
        // all requests, the failure counting as at least its timeout.
        assert_eq!(a.latency_us.len(), 3);
        assert!(a.latency_us.value_at_quantile(0.5) >= 1990 && a.latency_us.value_at_quantile(0.5) < 10_000);
        assert!(crate::results::Latency::is_failure(a.latency_us.value_at_quantile(1.0)));
        assert_eq!((a.failed(), a.answered()), (1, 2));
        assert_eq!(a.answered_mean_us(), Some(1250.0));
    }

    #[test]
    fn failures_count_as_at_least_the_timeout_and_broken_streams_as_incomplete() {
        let now = Instant::now();
        let mut r = Recorder::default();
        let wrong =
            Outcome::Response { status: 500, bytes: 1, mismatch: conn::Check::WrongStatus, stream: None, chat: None };
        r.record(wrong, now, Duration::from_millis(1), Streamed::No, &L);
        r.record(Outcome::Reset, now, Duration::from_millis(3), Streamed::Tokens, &L);
        r.record(Outcome::Connect, now, Duration::ZERO, Streamed::No, &L);
        assert_eq!(r.latency_us.len(), 3);
        assert!(
            crate::results::Latency::is_failure(r.latency_us.value_at_quantile(0.0)),
            "an unexpected 500 after 1 ms is a failure, not a 1 ms answer"
        );
        assert_eq!(r.failed(), 3);
        assert_eq!(r.answered_mean_us(), None);
        // A stream that broke mid-way counts against stream correctness.
        assert_eq!(r.stream.as_ref().map(|s| (s.streams_complete, s.streams_incomplete)), Some((0, 1)));
    }

    #[test]
    fn an_open_windows_completions_and_thirds_come_from_the_timeline() {
        // Window [1 s, 4 s]: a warm-up request answered inside it counts as a completion;
        // one scheduled inside but answered after it does not; a failure sits in its third.
        let ms = |x: u64| x * 1000;
        let timeline = vec![
            (ms(900), Some(ms(1100))), // warm-up, done in window
            (ms(1100), Some(ms(1110))),
            (ms(2100), Some(ms(2120))),
            (ms(3100), None), // failed, last third
            (ms(3200), None),
            (ms(3900), Some(ms(4200))), // done after the window
        ];
        let (completed, _, thirds) = window_figures(&timeline, ms(1000), ms(4000));
        assert_eq!(completed, 3);
        assert!((9_990..=10_010).contains(&thirds[0]), "{thirds:?}");
        assert!((19_980..=20_020).contains(&thirds[1]), "{thirds:?}");
        assert!(crate::results::Latency::is_failure(thirds[2]), "{thirds:?}");
    }

    /// A backlog of warm-up requests answered inside the window is catch-up: the window is
    /// credited at most the answers its own requests got (a hyper repeat at 4,833/s read
    /// 5.7% above its offered rate), and its CPU per response still divides by everything
    /// it completed.
    #[test]
    fn a_warm_up_backlog_does_not_raise_the_throughput_above_the_offered_rate() {
        let ms = |v: u64| v * 1000;
        // 10 requests scheduled in a 1 s window (100/s), each answered 1 ms later; 5 warm-up
        // requests stalled until 10 ms into the window.
        let mut timeline: Vec<(u64, Option<u64>)> =
            (0..10).map(|k| (ms(1000 + 100 * k), Some(ms(1001 + 100 * k)))).collect();
        timeline.extend((0..5).map(|k| (ms(900 + 10 * k), Some(ms(1010)))));
        let (completed, answered, _) = window_figures(&timeline, ms(1000), ms(2000));
        assert_eq!((completed, answered), (15, 10));
        let start = Instant::now();
        let r = LoadResult {
            recorded: Recorder::default(),
            window_start: start,
            window_end: start + Duration::from_secs(1),
            dropped: 0,
            scheduled: 10,
            completed_in_window: completed,
            answered_of_window: Some(answered),
            thirds_p50_us: None,
            due_in_window: None,
            alignment_wait: Duration::ZERO,
            connections_opened: 1,
        };
        assert!((r.throughput_rps() - 10.0).abs() < 1e-9 && (r.completed_rps() - 15.0).abs() < 1e-9);
        // An overloaded window: fewer completions inside it than its requests got later.
        let late = LoadResult { completed_in_window: 6, answered_of_window: Some(10), ..r };
        assert!((late.throughput_rps() - 6.0).abs() < 1e-9);
    }

    /// A server that keeps up answers, inside the window, the requests scheduled one latency
    /// before it: with 310 ms exchanges at 100/s over a 1 s window, 31 of the warm-up's and
    /// 69 of the window's; so the count the completions must match is 100 whatever the two
    /// spans' arrivals, and with short exchanges it is the window's own.
    #[test]
    fn long_exchanges_are_due_one_latency_after_they_are_scheduled() {
        let ms = |v: u64| v * 1000;
        // Arrivals every 10 ms from 5 ms to 2 s; each answered 310 ms later. Window [1 s, 2 s],
        // with 5 more arrivals crowded into the warm-up's last 310 ms.
        let mut timeline: Vec<(u64, Option<u64>)> =
            (0..200).map(|k| (ms(10 * k) + 5000, Some(ms(10 * k + 315)))).collect();
        timeline.extend((0..5).map(|k| (ms(700 + k), Some(ms(1010 + k)))));
        assert_eq!(due_in_window(&timeline, ms(1000), ms(2000)), 105, "the 5 crowded ones are due inside");
        let (completed, _, _) = window_figures(&timeline, ms(1000), ms(2000));
        assert_eq!(completed, 105);
        // Short exchanges: the window's own count.
        let short: Vec<(u64, Option<u64>)> = (0..200).map(|k| (ms(10 * k) + 5000, Some(ms(10 * k) + 5300))).collect();
        assert_eq!(due_in_window(&short, ms(1000), ms(2000)), 100);
        // The shift is at most the warm-up: nothing is due from before the run.
        let slow: Vec<(u64, Option<u64>)> = (0..200).map(|k| (ms(10 * k) + 5000, Some(ms(10 * k + 5005)))).collect();
        assert_eq!(due_in_window(&slow, ms(1000), ms(2000)), 100);
    }

    #[test]
    fn aligned_phases_spread_evenly_over_one_exchange() {
        let origin = Instant::now();
        let took = Duration::from_millis(1000);
        // Connection 1 of 4 ended its first exchange 1,300 ms in; its next must start at
        // 250 ms modulo 1,000 ms, so at 2,250 ms: a wait of 950 ms.
        let wait = alignment_wait(origin, origin + Duration::from_millis(1300), took, 0.25);
        assert!((wait.as_secs_f64() - 0.95).abs() < 1e-9, "{wait:?}");
        // Short exchanges are not aligned.
        assert_eq!(
            alignment_wait(origin, origin + Duration::from_millis(7), Duration::from_millis(1), 0.5),
            Duration::ZERO
        );
    }

    #[test]
    fn stream_figures_follow_their_definitions() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // TTFT 30 ms, then gaps of 20, 20, 40 ms; E2E 115 ms.
        let t = conn::StreamTiming { token_events_at: vec![at(30), at(50), at(70), at(110)], complete: true };
        let mut r = Recorder::default();
        let outcome = Outcome::Response {
            status: 200,
            bytes: 100,
            mismatch: conn::Check::NotChecked,
            stream: Some(t),
            chat: None,
        };
        r.record(outcome, start, Duration::from_millis(115), Streamed::Tokens, &L);
        let s = r.stream.unwrap();
        assert_eq!((s.tokens, s.streams_complete), (4, 1));
        assert!((29_970..=30_030).contains(&s.ttft_us.value_at_quantile(0.5)));
        assert_eq!(s.itl_us.len(), 3);
        assert!((39_960..=40_040).contains(&s.itl_us.max()));
        // TPOT = (115 − 30) / 3 ≈ 28.3 ms.
        assert!((28_300..=28_360).contains(&s.tpot_us.value_at_quantile(0.5)), "{}", s.tpot_us.value_at_quantile(0.5));
    }
}
