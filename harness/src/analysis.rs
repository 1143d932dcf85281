//! The pure analysis: repeats → a point's summary and flags, stream and in-flight
//! summaries, memory fits. No I/O, no clock: every function here maps recorded figures to
//! reported ones, so each is unit-tested on known inputs (docs/metrics.md defines them).

use crate::driver::{self, Arrival, Mode};
use crate::results::{
    ChatRepeat, ChatSummary, Fit, Flag, InflightSummary, Latency, MemoryFits, Objective, Point, PointMode,
    PointSummary, Repeat, SignedPercentiles, Spread, StreamSummary, Workload,
};
use crate::stats;

pub use crate::results::CLIENT_BOUND_SHARE;
use crate::results::{CLIENT_LAG_SHARE, NEIGHBOUR_CPU_CORES, OVERLOAD_COMPLETED_SHARE, OVERLOAD_P50_GROWTH};

/// Latency percentiles minus a fixed time (a token delay, an io latency): what the target
/// adds on top. Percentiles commute with subtracting a constant, so these are exact.
pub fn minus_ms(l: Latency, ms: u64) -> SignedPercentiles {
    let d = ms as f64 * 1e3;
    SignedPercentiles { p50: l.p50 as f64 - d, p99: l.p99.map(|v| v as f64 - d), p999: l.p999.map(|v| v as f64 - d) }
}

/// ITL percentiles minus its own p50: how unsteady the gaps are, whatever their mean.
pub fn itl_spread(itl: Latency) -> SignedPercentiles {
    let m = itl.p50 as f64;
    SignedPercentiles { p50: 0.0, p99: itl.p99.map(|v| v as f64 - m), p999: itl.p999.map(|v| v as f64 - m) }
}

/// The stream figures of a generate point (docs/metrics.md, "Streaming").
pub fn stream_summary(s: &driver::StreamRecorder, delay_ms: u64, repeats: &[Repeat]) -> StreamSummary {
    let shift = |l: Latency| minus_ms(l, delay_ms);
    let ttft = Latency::of(&s.ttft_us);
    let itl = Latency::of(&s.itl_us);
    let streams = s.streams_complete + s.streams_incomplete;
    let tps: Vec<f64> = repeats.iter().filter_map(|r| r.streaming.as_ref().map(|s| s.tokens_per_s)).collect();
    StreamSummary {
        token_delay_ms: delay_ms,
        ttft_us: ttft,
        itl_us: itl,
        tpot_us: Latency::of(&s.tpot_us),
        ttft_overhead_us: shift(ttft),
        itl_jitter_us: shift(itl),
        itl_spread_us: Some(itl_spread(itl)),
        tokens_per_s: stats::summarize(&tps).map_or(0.0, |x| x.median),
        streams_correct_share: if streams == 0 { 0.0 } else { s.streams_complete as f64 / streams as f64 },
    }
}

/// The latency objectives of `slos` that bound `point`'s workload, judged on its merged
/// percentile: met when it is within the limit and the point is not overloaded (an
/// overloaded point's latency is its queue's, not the server's); unknown (`met` absent)
/// where too few samples give the percentile (docs/metrics.md, "Objectives").
pub fn objectives(point: &Point, slos: &[crate::slo::Slo]) -> Vec<Objective> {
    slos.iter()
        .filter(|s| s.workload == point.workload)
        .filter_map(|s| {
            let q = s.figure.quantile()?;
            let l = &point.summary.latency_us;
            let value_us = match q {
                0.5 => Some(l.p50),
                0.9 => l.p90,
                0.99 => l.p99,
                _ => l.p999,
            };
            let overloaded = point.summary.flags.contains(&Flag::Overloaded);
            let met = value_us.map(|v| !overloaded && !Latency::is_failure(v) && v as f64 <= s.limit_us());
            Some(Objective { objective: s.to_string(), value_us, met })
        })
        .collect()
}

/// A chat window's figures: its streams' percentiles, output tokens per second of window,
/// and goodput: the window's throughput × the share of its requests that met every `chat`
/// objective (so goodput ≤ throughput), when objectives were given (docs/metrics.md, "Chat").
pub fn chat_repeat(c: &driver::ChatRecorder, window_s: f64, throughput_rps: f64, judged: bool) -> ChatRepeat {
    let requests = c.streams_complete + c.streams_incomplete;
    ChatRepeat {
        streams_complete: c.streams_complete,
        streams_incomplete: c.streams_incomplete,
        output_tokens: c.output_tokens,
        output_tokens_per_s: c.output_tokens as f64 / window_s.max(1e-9),
        output_chunks: c.output_chunks,
        reasoning_chunks: c.reasoning_chunks,
        tokens_from_usage: c.tokens_from_usage,
        tokens_from_chunks: c.tokens_from_chunks,
        goodput_rps: judged.then(|| if requests == 0 { 0.0 } else { throughput_rps * c.good as f64 / requests as f64 }),
        ttft_us: Latency::of(&c.ttft_us),
        ttft_vllm_us: Latency::of(&c.ttft_vllm_us),
        itl_us: Latency::of(&c.itl_us),
        tpot_us: Latency::of(&c.tpot_us),
        e2el_us: Latency::of(&c.e2el_us),
    }
}

/// A chat point's figures: the merged streams' percentiles, and the repeats' output tokens
/// per second and goodput as medians with their intervals.
pub fn chat_summary(c: &driver::ChatRecorder, repeats: &[Repeat], slo: Vec<String>) -> ChatSummary {
    let spread = |v: Vec<f64>| stats::summarize(&v).map(Spread::from);
    let chats: Vec<&ChatRepeat> = repeats.iter().filter_map(|r| r.chat.as_ref()).collect();
    ChatSummary {
        ttft_us: Latency::of(&c.ttft_us),
        ttft_vllm_us: Latency::of(&c.ttft_vllm_us),
        itl_us: Latency::of(&c.itl_us),
        tpot_us: Latency::of(&c.tpot_us),
        e2el_us: Latency::of(&c.e2el_us),
        output_tokens_per_s: spread(chats.iter().map(|r| r.output_tokens_per_s).collect())
            .unwrap_or_else(|| Spread::from(stats::Summary::zero())),
        goodput_rps: spread(chats.iter().filter_map(|r| r.goodput_rps).collect()),
        slo,
        tokens_from_usage: c.tokens_from_usage,
        tokens_from_chunks: c.tokens_from_chunks,
        output_chunks: c.output_chunks,
        reasoning_chunks: c.reasoning_chunks,
        streams_complete: c.streams_complete,
        streams_incomplete: c.streams_incomplete,
    }
}

/// A point from its repeats: throughput as the median over repeats with its spread, the
/// latency percentiles of the merged histogram (`latency`), CPU per response and client CPU
/// share as medians, errors and drops summed, and the flags (docs/metrics.md, "Flags").
pub fn point(
    workload: Workload,
    mode: Mode,
    rate_basis: Option<String>,
    repeats: Vec<Repeat>,
    latency: Latency,
) -> Point {
    let tput: Vec<f64> = repeats.iter().map(|r| r.throughput_rps).collect();
    let throughput = stats::summarize(&tput).unwrap_or_else(stats::Summary::zero);
    let median_of = |v: Vec<f64>| stats::summarize(&v).map(|s| s.median);
    let cpu = median_of(repeats.iter().filter_map(|r| r.cpu_us_per_request).collect());
    let client_share = median_of(repeats.iter().map(|r| r.client_cpu_share).collect()).unwrap_or(0.0);
    let errors: u64 = repeats.iter().map(|r| r.errors.total()).sum();
    let dropped: u64 = repeats.iter().map(|r| r.dropped).sum();
    let flags = flags(&throughput, &repeats);
    let (mode_name, connections, rate, arrival) = match mode {
        Mode::Closed { connections } => (PointMode::Closed, connections, None, None),
        Mode::Open { rate_rps, arrival, max_connections } => (
            PointMode::Open,
            max_connections,
            Some(rate_rps),
            Some(match arrival {
                Arrival::Constant => "constant".to_owned(),
                Arrival::Poisson { .. } => "poisson".to_owned(),
                Arrival::Gamma { shape, .. } => format!("gamma b={shape}"),
            }),
        ),
    };
    Point {
        workload,
        mode: mode_name,
        connections,
        rate_rps: rate,
        rate_basis,
        arrival,
        summary: PointSummary {
            throughput_rps: throughput.into(),
            latency_us: latency,
            cpu_us_per_request: cpu,
            rss_peak_bytes: repeats.iter().filter_map(|r| r.rss_peak_bytes).max(),
            client_cpu_share: client_share,
            errors,
            dropped,
            flags,
            streaming: None,
            rss_mean_bytes: median_of(repeats.iter().filter_map(|r| r.rss_mean_bytes.map(|b| b as f64)).collect())
                .map(|b| b as u64),
            inflight: None,
            probe: None,
            mixed: None,
            pss_mean_bytes: median_of(repeats.iter().filter_map(|r| r.pss_mean_bytes.map(|b| b as f64)).collect())
                .map(|b| b as u64),
            held_concurrency: None,
            send_lag_us: None,
            overhead_us: None,
            chat: None,
            objectives: Vec::new(),
        },
        repeats,
        resumed: false,
    }
}

/// The concurrency a server held (Little's law inside the server): its throughput × the
/// time it holds each exchange by construction (`hold`: infer-io's `latency_ms`, a stream's
/// tokens × delay); `None` for exchanges without a set hold. flask's 32 threads at 100
/// connections of 0.2 s requests complete 160/s and hold 32, not 100: the others wait in
/// its queue, not in a handler.
pub fn held_concurrency(throughput_rps: f64, hold: std::time::Duration) -> Option<f64> {
    (!hold.is_zero()).then(|| throughput_rps * hold.as_secs_f64())
}

/// Whether an open-loop window failed to keep up with its offered rate: it completed fewer
/// than [`OVERLOAD_COMPLETED_SHARE`] of the requests due in it (`due_in_window`: those
/// scheduled one median latency before it, which for short exchanges are the ones it
/// scheduled), or the p50 of the requests scheduled in its last third exceeds
/// [`OVERLOAD_P50_GROWTH`] times its first third's (the queue grew). `false` for a
/// closed-loop window (no thirds recorded).
pub fn overloaded(r: &Repeat) -> bool {
    let due = r.due_in_window.unwrap_or(r.scheduled);
    overloaded_window(due, r.completed_in_window.unwrap_or(r.responses), r.thirds_p50_us)
}

/// [`overloaded`] on a window's figures: requests scheduled in it, responses completed in
/// it, and the p50s of its thirds (`None`: closed loop, never overloaded).
pub fn overloaded_window(scheduled: u64, completed: u64, thirds_p50_us: Option<[u64; 3]>) -> bool {
    let Some([first, _, last]) = thirds_p50_us else { return false };
    (completed as f64) < OVERLOAD_COMPLETED_SHARE * scheduled as f64 || last as f64 > OVERLOAD_P50_GROWTH * first as f64
}

/// The flags of a point from its repeats: `noisy` (throughput CV over the bound),
/// `client_bound` (a repeat's client CPU share above [`CLIENT_BOUND_SHARE`]), `errors`,
/// `dropped`, `single_run` (fewer than two repeats), `overloaded` (any open-loop repeat
/// that did not keep up, [`overloaded`]).
pub fn flags(throughput: &stats::Summary, repeats: &[Repeat]) -> Vec<Flag> {
    let errors: u64 = repeats.iter().map(|r| r.errors.total()).sum();
    let dropped: u64 = repeats.iter().map(|r| r.dropped).sum();
    let mut flags = Vec::new();
    // The headline percentile where every repeat has enough samples for it, else p90 (a
    // median's spread is not judged here).
    let (q, pick) = Latency::common_tail(repeats.iter().map(|r| &r.latency_us));
    let tails: Vec<u64> =
        if q == "p50" { Vec::new() } else { repeats.iter().filter_map(|r| pick(&r.latency_us)).collect() };
    if throughput.is_noisy() || stats::p99_is_noisy(&tails) {
        flags.push(Flag::Noisy);
    }
    if repeats.iter().any(|r| r.client_cpu_share > CLIENT_BOUND_SHARE) {
        flags.push(Flag::ClientBound);
    }
    if errors > 0 {
        flags.push(Flag::Errors);
    }
    if dropped > 0 {
        flags.push(Flag::Dropped);
    }
    if repeats.len() < 2 {
        flags.push(Flag::SingleRun);
    }
    if repeats.iter().any(overloaded) {
        flags.push(Flag::Overloaded);
    }
    if repeats.iter().any(|r| r.neighbour_cpu.is_some_and(|c| c > NEIGHBOUR_CPU_CORES)) {
        flags.push(Flag::NeighbourCpu);
    }
    flags
}

/// The other servers' CPU during a point measured once (goose's `mixed`): recorded on its
/// window, and the point flagged `neighbour_cpu` above [`NEIGHBOUR_CPU_CORES`].
pub fn with_neighbour_cpu(point: &mut Point, cores: Option<f64>) {
    if let Some(r) = point.repeats.first_mut() {
        r.neighbour_cpu = cores;
    }
    if cores.is_some_and(|c| c > NEIGHBOUR_CPU_CORES) && !point.summary.flags.contains(&Flag::NeighbourCpu) {
        point.summary.flags.push(Flag::NeighbourCpu);
    }
}

/// A ratio between two targets (or two builds) at one point, from rounds run side by side
/// (docs/metrics.md, "Paired ratios").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedRatio {
    /// exp(mean of the per-round log ratios): the geometric mean of `a ÷ b`.
    pub ratio: f64,
    /// 95% t interval of that mean, back on the ratio scale.
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// Rounds both had (the pairs).
    pub rounds: usize,
}

impl PairedRatio {
    /// Whether the interval excludes 1: the two differ measurably.
    pub fn differs(&self) -> bool {
        self.ci95_low > 1.0 || self.ci95_high < 1.0
    }
}

/// `value` of `a`'s and `b`'s windows of the same round (matched by round number, the
/// position where a file predates it), for every round both have a value.
fn paired_by_round(a: &Point, b: &Point, value: impl Fn(&Repeat) -> Option<f64>) -> Vec<(f64, f64)> {
    let by_round = |p: &Point| -> std::collections::BTreeMap<usize, f64> {
        p.repeats.iter().enumerate().filter_map(|(i, r)| Some((r.round.unwrap_or(i + 1), value(r)?))).collect()
    };
    let rb = by_round(b);
    by_round(a).into_iter().filter_map(|(round, x)| Some((x, *rb.get(&round)?))).collect()
}

/// The paired ratio `a ÷ b` of a figure (`value` of each window, e.g. its throughput or its
/// CPU per request) over the rounds both points measured: each round's ratio is taken within
/// the round, whose windows ran back to back, so the host's drift between rounds cancels;
/// the mean of the log ratios gets a Student-t interval over the rounds. `None` with fewer
/// than 2 paired rounds or a value that is not positive.
pub fn paired_ratio(a: &Point, b: &Point, value: impl Fn(&Repeat) -> Option<f64>) -> Option<PairedRatio> {
    let logs: Vec<f64> = paired_by_round(a, b, value)
        .into_iter()
        .filter(|&(x, y)| x > 0.0 && y > 0.0)
        .map(|(x, y)| (x / y).ln())
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let s = stats::summarize(&logs)?;
    Some(PairedRatio { ratio: s.mean.exp(), ci95_low: s.ci95_low.exp(), ci95_high: s.ci95_high.exp(), rounds: s.n })
}

/// A target's cost over the target whose app it wraps (`overhead_over`), at one point both
/// measured: paired ratios target ÷ baseline over the rounds both ran.
#[derive(Debug, Clone)]
pub struct Overhead {
    pub target: String,
    pub baseline: String,
    pub key: crate::results::PointKey,
    /// Responses per second: below 1, the wrapper serves less.
    pub throughput: Option<PairedRatio>,
    /// Server CPU-µs per response: above 1, each request costs more CPU.
    pub cpu_per_request: Option<PairedRatio>,
    /// The window's median latency: above 1, requests take longer.
    pub latency_p50: Option<PairedRatio>,
    /// Either point's flags (overloaded, client-bound...), which qualify the ratios.
    pub flags: Vec<crate::results::Flag>,
}

/// Every point a target with `overhead_over` shares with its baseline in the same run (same
/// [`crate::results::PointKey`]), with its paired ratios (docs/metrics.md, "Overhead over a
/// wrapped target"). Targets or baselines that were not measured give no rows.
pub fn overheads(targets: &[crate::results::TargetResult]) -> Vec<Overhead> {
    use crate::results::PointKey;
    let mut out = Vec::new();
    for t in targets {
        let Some(base_name) = &t.overhead_over else { continue };
        let Some(base) = targets.iter().find(|b| &b.name == base_name) else { continue };
        for p in &t.points {
            let key = PointKey::of(p);
            // At a fraction of each target's own maximum the two were offered different
            // rates: not the same load, so no ratio of costs.
            if p.mode == crate::results::PointMode::Open && !key.rate.ends_with("req/s") {
                continue;
            }
            let Some(b) = base.points.iter().find(|b| PointKey::of(b) == key) else { continue };
            let mut flags: Vec<crate::results::Flag> = p.summary.flags.clone();
            flags.extend(b.summary.flags.iter().filter(|f| !p.summary.flags.contains(f)).cloned());
            out.push(Overhead {
                target: t.name.clone(),
                baseline: base.name.clone(),
                throughput: paired_ratio(p, b, |x| Some(x.throughput_rps)),
                cpu_per_request: paired_ratio(p, b, |x| x.cpu_us_per_request),
                latency_p50: paired_ratio(p, b, |x| {
                    (x.latency_us.n.unwrap_or(1) > 0).then_some(x.latency_us.p50 as f64)
                }),
                key,
                flags,
            });
        }
    }
    out
}

/// A paired difference `a − b` of a figure over the rounds both points measured: each
/// round's difference within the round, their mean with a Student-t interval over rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDiff {
    pub diff: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub rounds: usize,
}

/// [`PairedDiff`] of `value` between `a` and `b`; `None` with fewer than 2 paired rounds.
pub fn paired_difference(a: &Point, b: &Point, value: impl Fn(&Repeat) -> Option<f64>) -> Option<PairedDiff> {
    let diffs: Vec<f64> = paired_by_round(a, b, value).into_iter().map(|(x, y)| x - y).collect();
    if diffs.len() < 2 {
        return None;
    }
    let s = stats::summarize(&diffs)?;
    Some(PairedDiff { diff: s.mean, ci95_low: s.ci95_low, ci95_high: s.ci95_high, rounds: s.n })
}

/// A gateway's cost at one closed-loop `chat` point, over its upstream asked straight
/// (`upstream-direct`) in the same rounds (docs/metrics.md, "Gateway overhead").
#[derive(Debug, Clone)]
pub struct GatewayOverhead {
    pub target: String,
    pub key: crate::results::PointKey,
    /// TTFT and E2EL percentiles, target − direct, µs, paired by round; a percentile is
    /// compared only where both windows of a round have the samples to give it.
    pub ttft_p50_us: Option<PairedDiff>,
    pub ttft_p99_us: Option<PairedDiff>,
    pub e2el_p50_us: Option<PairedDiff>,
    pub e2el_p99_us: Option<PairedDiff>,
    /// Server CPU-µs per streamed output token and per stream, over the target's rounds.
    pub cpu_us_per_token: Option<Spread>,
    pub cpu_us_per_stream: Option<Spread>,
    /// (Mean PSS in the window − idle PSS) ÷ the streams held (throughput × mean E2E
    /// latency, Little's law), bytes, over rounds.
    pub pss_per_stream_bytes: Option<Spread>,
    /// The streams held, median over rounds.
    pub held_streams: Option<f64>,
    /// Either point's flags, which qualify the figures.
    pub flags: Vec<crate::results::Flag>,
}

/// Every closed-loop `chat` point of every target that `upstream-direct` measured too, with
/// its overheads. Open-loop points are left out: each target's were offered a fraction of
/// its own maximum, not the same load.
pub fn gateway_overheads(targets: &[crate::results::TargetResult]) -> Vec<GatewayOverhead> {
    use crate::results::{PointKey, PointMode, Workload};
    let Some(direct) = targets.iter().find(|t| t.name == crate::results::UPSTREAM_DIRECT) else { return Vec::new() };
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| t.name != direct.name) {
        let idle_pss = t.cost.as_ref().and_then(|c| c.idle_pss_bytes);
        for p in t.points.iter().filter(|p| p.workload == Workload::Chat && p.mode == PointMode::Closed) {
            let key = PointKey::of(p);
            let Some(b) = direct.points.iter().find(|b| PointKey::of(b) == key) else { continue };
            let pct =
                |get: fn(&ChatRepeat) -> Option<u64>| move |r: &Repeat| r.chat.as_ref().and_then(get).map(|v| v as f64);
            let per_round = |f: &dyn Fn(&Repeat) -> Option<f64>| -> Option<Spread> {
                let v: Vec<f64> = p.repeats.iter().filter_map(f).collect();
                stats::summarize(&v).map(Spread::from)
            };
            let held = |r: &Repeat| Some(r.throughput_rps * r.answered_mean_us? / 1e6).filter(|h| *h > 0.0);
            let mut flags: Vec<crate::results::Flag> = p.summary.flags.clone();
            flags.extend(b.summary.flags.iter().filter(|f| !p.summary.flags.contains(f)).cloned());
            out.push(GatewayOverhead {
                target: t.name.clone(),
                ttft_p50_us: paired_difference(p, b, pct(|c| Some(c.ttft_us.p50))),
                ttft_p99_us: paired_difference(p, b, pct(|c| c.ttft_us.p99)),
                e2el_p50_us: paired_difference(p, b, pct(|c| Some(c.e2el_us.p50))),
                e2el_p99_us: paired_difference(p, b, pct(|c| c.e2el_us.p99)),
                // The window's server CPU (per completed response × completed) over its tokens.
                cpu_us_per_token: per_round(&|r| {
                    let tokens = r.chat.as_ref()?.output_tokens_per_s * r.window_s;
                    let completed = r.completed_in_window.unwrap_or(r.responses) as f64;
                    (tokens > 0.0).then_some(r.cpu_us_per_request? * completed / tokens)
                }),
                cpu_us_per_stream: per_round(&|r| r.cpu_us_per_request),
                pss_per_stream_bytes: per_round(&|r| Some((r.pss_mean_bytes? as f64 - idle_pss? as f64) / held(r)?)),
                held_streams: per_round(&held).map(|s| s.median),
                key,
                flags,
            });
        }
    }
    out
}

/// Flag `client_lag`: the driver's send lag at its tail exceeds [`CLIENT_LAG_SHARE`] of the
/// latency at its tail, each the highest percentile its samples give (p99, else p90, else
/// p50), so the reported latency may be partly the client's (docs/metrics.md, "Send lag").
pub fn client_lag(latency: &Latency, send_lag: &Latency) -> bool {
    let tail = |l: &Latency| l.p99.or(l.p90).unwrap_or(l.p50) as f64;
    send_lag.n.unwrap_or(0) > 0 && tail(send_lag) > CLIENT_LAG_SHARE * tail(latency)
}

/// An open-loop point's send lag over its repeats, into its summary, and its `client_lag`
/// flag where [`client_lag`] says so.
pub fn with_send_lag(point: &mut Point, lag: Latency) {
    if client_lag(&point.summary.latency_us, &lag) && !point.summary.flags.contains(&Flag::ClientLag) {
        point.summary.flags.push(Flag::ClientLag);
    }
    point.summary.send_lag_us = Some(lag);
}

/// The client's CPU time per request inside a window: its CPU share of `client_cpus` over
/// `window_s` seconds, per request completed there (docs/metrics.md, "Mixed traffic");
/// `None` without a request.
pub fn client_cpu_us_per_request(share: f64, client_cpus: usize, window_s: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| share * client_cpus as f64 * window_s * 1e6 / requests as f64)
}

/// infer-io's efficiency and overhead at `connections` in flight, each request held
/// `latency_ms` by the server (docs/metrics.md, "In-flight efficiency"). The overhead comes
/// from `overhead` (each answered request's latency − `latency_ms`, read to 0.1% of itself) where the
/// point recorded it, else from the latency's percentiles minus `latency_ms` (older files:
/// there a 200 ms latency's bucket is 128 µs, so every overhead sat on a bucket edge).
pub fn inflight_summary(
    latency_ms: u64,
    connections: usize,
    throughput_median: f64,
    latency: Latency,
    overhead: Option<Latency>,
) -> InflightSummary {
    let ideal = connections as f64 / (latency_ms as f64 / 1e3).max(1e-9);
    InflightSummary {
        latency_ms,
        ideal_rps: ideal,
        efficiency_pct: 100.0 * throughput_median / ideal,
        overhead_us: overhead.map_or_else(|| minus_ms(latency, latency_ms), |o| minus_ms(o, 0)),
    }
}

/// Bytes per open stream and per in-flight request: the slope of the tree's mean PSS over
/// the concurrency the server held ([`held_concurrency`]), across the workload's
/// closed-loop levels. The lowest level, measured after its warm-up, is the warmed baseline:
/// no point at zero, whose server never served a request and would charge the first
/// request's one-off costs to every request (docs/metrics.md, "Memory fits"). `None` with
/// fewer than two levels.
pub fn memory_fits(points: &[Point]) -> Option<MemoryFits> {
    let fit = |workload: Workload| -> Option<Fit> {
        let levels: Vec<(f64, u64)> = points
            .iter()
            .filter(|pt| pt.workload == workload && pt.mode == PointMode::Closed)
            .filter_map(|pt| Some((pt.summary.held_concurrency?, pt.summary.pss_mean_bytes?)))
            .collect();
        rss_fit(None, &levels)
    };
    let fits = MemoryFits {
        bytes_per_open_stream: fit(Workload::Generate),
        bytes_per_inflight_request: fit(Workload::InferIo),
    };
    (fits.bytes_per_open_stream.is_some() || fits.bytes_per_inflight_request.is_some()).then_some(fits)
}

/// The least-squares line of memory over concurrency, through (0, baseline) when known
/// and (x, bytes) for each level; `None` with fewer than two points.
pub fn rss_fit(baseline: Option<u64>, levels: &[(f64, u64)]) -> Option<Fit> {
    let mut pts: Vec<[f64; 2]> = baseline.map(|b| vec![[0.0, b as f64]]).unwrap_or_default();
    pts.extend(levels.iter().map(|&(c, b)| [c, b as f64]));
    if pts.len() < 2 {
        return None;
    }
    let line = stats::linear_fit(&pts.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>())?;
    Some(Fit { slope_bytes: line.slope, intercept_bytes: line.intercept, r2: line.r2, points: pts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Results;

    /// A latency objective is met when the merged percentile is within its limit on a point
    /// that kept up; unknown without the samples for it; other workloads' objectives and the
    /// chat ones are not judged here.
    #[test]
    fn objectives_judge_the_merged_percentile_of_a_point_that_kept_up() {
        let lat = |p99: Option<u64>| Latency {
            n: Some(if p99.is_some() { 5000 } else { 50 }),
            p50: 900,
            p90: None,
            p99,
            p999: None,
            max: 9000,
        };
        let slos = crate::slo::parse("predict.p99=10ms,predict.p50=0.5ms,health.p99=1ms,chat.ttft=1s").unwrap();
        let closed = Mode::Closed { connections: 8 };
        let pt = point(Workload::Predict, closed, None, vec![repeat(100.0, 0.1), repeat(100.0, 0.1)], lat(Some(8000)));
        let got: Vec<(String, Option<bool>)> =
            objectives(&pt, &slos).into_iter().map(|o| (o.objective, o.met)).collect();
        assert_eq!(got, [("predict.p99=10ms".into(), Some(true)), ("predict.p50=0.5ms".into(), Some(false))]);
        let mut over = pt.clone();
        over.summary.flags.push(Flag::Overloaded);
        assert_eq!(objectives(&over, &slos)[0].met, Some(false), "an overloaded point meets no objective");
        let few = point(Workload::Predict, closed, None, vec![repeat(100.0, 0.1)], lat(None));
        assert_eq!((objectives(&few, &slos)[0].value_us, objectives(&few, &slos)[0].met), (None, None));
    }

    fn repeat(throughput_rps: f64, client_cpu_share: f64) -> Repeat {
        Repeat {
            throughput_rps,
            responses: 1000,
            window_s: 2.0,
            latency_us: Latency::default(),
            cpu_us_per_request: Some(50.0),
            rss_peak_bytes: Some(10 << 20),
            rss_mean_bytes: Some(9 << 20),
            client_cpu_share,
            statuses: Default::default(),
            errors: Default::default(),
            scheduled: 0,
            dropped: 0,
            bodies_checked: 10,
            connections_opened: 64,
            mismatches: Vec::new(),
            streaming: None,
            completed_in_window: Some(1000),
            thirds_p50_us: None,
            failed: 0,
            answered_mean_us: None,
            alignment_wait_s: 0.0,
            pss_mean_bytes: None,
            sampler_cpu_share: 0.0,
            send_lag_us: None,
            overhead_us: None,
            answered_of_window: None,
            round: None,
            neighbour_cpu: None,
            chat: None,
            due_in_window: None,
        }
    }

    fn flags_of(repeats: &[Repeat]) -> Vec<Flag> {
        let t: Vec<f64> = repeats.iter().map(|r| r.throughput_rps).collect();
        flags(&stats::summarize(&t).unwrap(), repeats)
    }

    /// An open-loop point replays one seed, so its throughput is the same in every repeat;
    /// its p99 is not (actix-web at 0.5 × max read 1.36 and 45 ms). Throughput alone
    /// called it steady.
    #[test]
    fn a_point_whose_p99_differs_between_repeats_is_noisy_though_its_throughput_is_steady() {
        let with_p99 = |p99: u64| {
            let mut r = repeat(1000.0, 0.3);
            r.latency_us.p99 = Some(p99);
            r
        };
        let steady = [with_p99(1357), with_p99(1500)];
        assert!(!flags_of(&steady).contains(&Flag::Noisy), "{:?}", flags_of(&steady));
        let tail = [with_p99(1357), with_p99(45_000)];
        assert!(flags_of(&tail).contains(&Flag::Noisy), "{:?}", flags_of(&tail));
        assert!(!stats::p99_is_noisy(&[1357]), "one repeat is `single_run`, not noisy");
        assert!(stats::p99_is_noisy(&[1000, 1501]) && !stats::p99_is_noisy(&[1000, 1500]));
    }

    #[test]
    fn steady_repeats_get_no_flag_and_a_median_of_each_figure() {
        let reps = vec![repeat(1000.0, 0.5), repeat(1010.0, 0.6), repeat(990.0, 0.4)];
        let p = point(Workload::Health, Mode::Closed { connections: 64 }, None, reps, Latency::default());
        assert!(p.summary.flags.is_empty(), "{:?}", p.summary.flags);
        assert_eq!(p.summary.throughput_rps.median, 1000.0);
        assert_eq!((p.summary.throughput_rps.min, p.summary.throughput_rps.max), (990.0, 1010.0));
        assert_eq!(p.summary.client_cpu_share, 0.5);
        assert_eq!(p.summary.cpu_us_per_request, Some(50.0));
        assert_eq!((p.mode, p.connections, p.rate_rps), (PointMode::Closed, 64, None));
    }

    #[test]
    fn each_flag_rule_fires_on_its_own_condition() {
        // One repeat: no spread to judge.
        assert_eq!(flags_of(&[repeat(1000.0, 0.5)]), [Flag::SingleRun]);
        // A client above 85% of its CPUs in any repeat (the median is below).
        assert_eq!(flags_of(&[repeat(1000.0, 0.5), repeat(1000.0, 0.86), repeat(1000.0, 0.5)]), [Flag::ClientBound]);
        assert!(flags_of(&[repeat(1000.0, 0.85), repeat(1000.0, 0.85)]).is_empty(), "85% itself is not over");
        // Repeats far apart.
        assert_eq!(flags_of(&[repeat(500.0, 0.5), repeat(1500.0, 0.5)]), [Flag::Noisy]);
        // Errors and drops, summed over repeats.
        let mut a = repeat(1000.0, 0.5);
        a.errors.timeout = 1;
        let mut b = repeat(1000.0, 0.5);
        b.dropped = 3;
        assert_eq!(flags_of(&[a, b]), [Flag::Errors, Flag::Dropped]);
    }

    #[test]
    fn an_open_point_records_its_rate_and_pool_and_no_repeats_give_zeros() {
        let mode = Mode::Open { rate_rps: 2000.0, arrival: Arrival::Poisson { seed: 1 }, max_connections: 256 };
        let p = point(Workload::Predict, mode, Some("absolute".into()), Vec::new(), Latency::default());
        assert_eq!((p.mode, p.connections, p.rate_rps), (PointMode::Open, 256, Some(2000.0)));
        assert_eq!((p.arrival.as_deref(), p.rate_basis.as_deref()), (Some("poisson"), Some("absolute")));
        assert_eq!(p.summary.throughput_rps.median, 0.0);
        assert_eq!(p.summary.cpu_us_per_request, None);
        assert_eq!(p.summary.flags, [Flag::SingleRun]);
    }

    #[test]
    fn client_cpu_per_request_is_the_windows_cpu_over_its_requests() {
        // Half of one CPU for 4 s is 2 CPU-seconds; over 1,000 requests, 2,000 µs each.
        assert_eq!(client_cpu_us_per_request(0.5, 1, 4.0, 1000), Some(2000.0));
        assert_eq!(client_cpu_us_per_request(0.25, 2, 4.0, 1000), Some(2000.0));
        assert_eq!(client_cpu_us_per_request(0.5, 1, 4.0, 0), None);
    }

    #[test]
    fn client_lag_compares_the_tails_each_sample_count_gives() {
        let l = |n: u64, p50: u64, p90: u64, p99: Option<u64>| Latency {
            n: Some(n),
            p50,
            p90: Some(p90),
            p99,
            p999: None,
            max: p90 * 2,
        };
        // p99 against p99: 150 µs of 2 ms is 7.5%, 250 µs is 12.5%.
        assert!(!client_lag(&l(5000, 800, 1500, Some(2000)), &l(5000, 50, 100, Some(150))));
        assert!(client_lag(&l(5000, 800, 1500, Some(2000)), &l(5000, 50, 100, Some(250))));
        // Too few samples for p99: p90 against p90.
        assert!(client_lag(&l(400, 3000, 4000, None), &l(400, 3000, 7900, None)));
        assert!(!client_lag(&l(400, 3000, 4000, None), &l(400, 180, 240, None)));
        assert!(!client_lag(&l(400, 3000, 4000, None), &Latency::default()), "no lag recorded, no flag");
    }

    #[test]
    fn inflight_efficiency_is_throughput_over_c_divided_by_latency() {
        let l = Latency {
            n: Some(10_000),
            p50: 201_000,
            p90: Some(201_500),
            p99: Some(202_000),
            p999: Some(203_000),
            max: 204_000,
        };
        let i = inflight_summary(200, 10, 49.5, l, None);
        assert_eq!(i.ideal_rps, 50.0);
        assert!((i.efficiency_pct - 99.0).abs() < 1e-9);
        assert_eq!((i.overhead_us.p50, i.overhead_us.p99), (1000.0, Some(2000.0)));
    }

    #[test]
    fn an_rss_fit_goes_through_the_baseline_and_needs_two_points() {
        assert!(rss_fit(Some(1000), &[]).is_none());
        assert!(rss_fit(None, &[(10.0, 1000)]).is_none());
        let f = rss_fit(Some(1_000_000), &[(10.0, 1_100_000), (100.0, 2_000_000)]).unwrap();
        assert!((f.slope_bytes - 10_000.0).abs() < 1.0, "{}", f.slope_bytes);
        assert_eq!(f.points.len(), 3);
    }

    fn io_point(connections: usize, throughput: f64, pss: u64) -> Point {
        let mut reps = vec![repeat(throughput, 0.3), repeat(throughput, 0.3)];
        for r in &mut reps {
            r.pss_mean_bytes = Some(pss);
        }
        let mut p = point(Workload::InferIo, Mode::Closed { connections }, None, reps, Latency::default());
        p.summary.held_concurrency = held_concurrency(throughput, std::time::Duration::from_millis(200));
        p
    }

    /// flask's 32 threads at 100 connections of 0.2 s requests complete 160/s: the server
    /// holds 32, so 32 is what the memory is divided by, from the warmed baseline (the lowest
    /// level, after its warm-up), not from a fresh server's idle RSS at zero.
    #[test]
    fn memory_per_request_divides_by_the_concurrency_held_from_a_warmed_baseline() {
        let mib = 1 << 20;
        let points = [io_point(10, 50.0, 42 * mib), io_point(100, 160.0, 64 * mib)];
        assert_eq!(points[1].summary.held_concurrency, Some(32.0));
        let fits = memory_fits(&points).unwrap();
        let f = fits.bytes_per_inflight_request.unwrap();
        assert_eq!(f.points, vec![[10.0, 42.0 * mib as f64], [32.0, 64.0 * mib as f64]]);
        // 22 MiB over 22 more requests held: 1 MiB each. Over the connections (10 → 100)
        // it would read 250 KiB; through a fresh server's (0, 30 MiB) more than 1 MiB.
        assert!((f.slope_bytes - mib as f64).abs() < 1.0, "{} B per request held", f.slope_bytes);
        assert!(fits.bytes_per_open_stream.is_none());
        assert!(memory_fits(&points[..1]).is_none(), "one level gives no slope");
    }

    #[test]
    fn an_open_window_is_overloaded_when_it_falls_behind_or_its_queue_grows() {
        let open = |scheduled: u64, completed: u64, thirds: [u64; 3]| {
            let mut r = repeat(1000.0, 0.3);
            (r.scheduled, r.completed_in_window, r.thirds_p50_us) = (scheduled, Some(completed), Some(thirds));
            r
        };
        assert!(!overloaded(&open(1000, 980, [500, 600, 900])), "98% completed, p50 1.8x: kept up");
        assert!(overloaded(&open(1000, 960, [500, 600, 900])), "96% completed");
        assert!(overloaded(&open(1000, 1000, [500, 800, 1100])), "last third's p50 2.2x the first's");
        assert!(!overloaded(&repeat(1000.0, 0.3)), "a closed-loop window has no thirds");
        let reps = vec![open(1000, 1000, [500, 500, 500]), open(1000, 900, [500, 500, 500])];
        assert_eq!(flags_of(&reps), [Flag::Overloaded], "one window that fell behind flags the point");
    }

    /// The analysis reproduces what the committed example run recorded (made before this
    /// module existed): each point's summary recomputed from its recorded repeats (and its
    /// merged latency, which the repeats cannot rebuild) is the one in the file.
    /// Little's law on the committed example, with the mean, where exchanges average 100 ms
    /// or more (where a window holds few of them, and where the estimator once read a
    /// set-up's count): every closed-loop point's reported throughput (the median over its
    /// rounds) is connections ÷ its rounds' median mean exchange time within 5%, and every
    /// single round within 10%. A round's own count is exact only to about one batch of
    /// the exchanges a server holds at once: Flask's 32 threads at 100 connections of 200 ms
    /// complete 32 every 200 ms, so a 2 s window catches 9.4 to 10 batches (its round 1 of
    /// 2026-12-02 read 150.4/s, the four others 157.4–158.9/s, at the same mean). sanity-check
    /// stands p50 in for the mean, which a server that makes part of its connections wait
    /// splits from it.
    #[test]
    fn the_example_obeys_littles_law_with_the_mean() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
        let r: crate::results::Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut checked = 0;
        let median = |v: Vec<f64>| stats::summarize(&v).map(|s| s.median);
        for t in &r.targets {
            for p in t.points.iter().filter(|p| p.mode == PointMode::Closed && p.workload != Workload::Mixed) {
                let what = format!("{} {} c={}", t.name, p.workload, p.connections);
                let long: Vec<&Repeat> =
                    p.repeats.iter().filter(|rep| rep.answered_mean_us.is_some_and(|m| m >= 100_000.0)).collect();
                for rep in &long {
                    let little = p.connections as f64 / (rep.answered_mean_us.unwrap() / 1e6);
                    let gap = (rep.throughput_rps - little).abs() / little;
                    assert!(
                        gap <= 0.10,
                        "{what} round {:?}: {:.2}/s against {little:.2}/s",
                        rep.round,
                        rep.throughput_rps
                    );
                }
                let Some(mean) = median(long.iter().filter_map(|rep| rep.answered_mean_us).collect()) else { continue };
                let little = p.connections as f64 / (mean / 1e6);
                let tput = p.summary.throughput_rps.median;
                assert!((tput - little).abs() / little <= 0.05, "{what}: {tput:.2}/s against {little:.2}/s");
                checked += 1;
            }
        }
        assert!(checked >= 8 * 3, "only {checked} points checked");
    }

    #[test]
    fn the_example_runs_summaries_are_recomputed_exactly_from_their_repeats() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
        let example: Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut checked = 0;
        for t in &example.targets {
            // mixed too: its one repeat is goose's run, under the same rules.
            for pt in &t.points {
                let mode = match pt.mode {
                    PointMode::Closed => Mode::Closed { connections: pt.connections },
                    PointMode::Open => Mode::Open {
                        rate_rps: pt.rate_rps.unwrap(),
                        arrival: Arrival::Poisson { seed: 0 },
                        max_connections: pt.connections,
                    },
                };
                let mut again =
                    point(pt.workload, mode, pt.rate_basis.clone(), pt.repeats.clone(), pt.summary.latency_us);
                if let Some(lag) = pt.summary.send_lag_us {
                    with_send_lag(&mut again, lag);
                }
                let (a, b) = (&again.summary, &pt.summary);
                let what = format!("{} {} {} c={}", t.name, pt.workload, pt.mode, pt.connections);
                assert_eq!(
                    serde_json::to_value(&a.throughput_rps).unwrap(),
                    serde_json::to_value(&b.throughput_rps).unwrap(),
                    "{what}"
                );
                assert_eq!(a.cpu_us_per_request, b.cpu_us_per_request, "{what}");
                assert_eq!((a.rss_peak_bytes, a.rss_mean_bytes), (b.rss_peak_bytes, b.rss_mean_bytes), "{what}");
                assert_eq!(a.client_cpu_share, b.client_cpu_share, "{what}");
                assert_eq!((a.errors, a.dropped), (b.errors, b.dropped), "{what}");
                // infer-cpu adds `errors` for a failed probe after the rules here.
                let mut flags = a.flags.clone();
                if pt.workload == Workload::InferCpu
                    && b.probe.as_ref().is_some_and(|p| p.probe_errors > 0)
                    && !flags.contains(&Flag::Errors)
                {
                    flags.push(Flag::Errors);
                }
                assert_eq!(flags, b.flags, "{what}");
                if let Some(i) = &b.inflight {
                    let again = inflight_summary(
                        i.latency_ms,
                        pt.connections,
                        b.throughput_rps.median,
                        b.latency_us,
                        b.overhead_us,
                    );
                    assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(i).unwrap(), "{what}");
                }
                if let Some(s) = &b.streaming {
                    let tps: Vec<f64> =
                        pt.repeats.iter().filter_map(|r| r.streaming.as_ref().map(|s| s.tokens_per_s)).collect();
                    assert_eq!(stats::summarize(&tps).map_or(0.0, |x| x.median), s.tokens_per_s, "{what}");
                }
                checked += 1;
            }
            if let Some(m) = &t.memory {
                // The fits run through (0, the PSS at rest after the lowest level), recorded
                // on that point.
                let again = memory_fits(&t.points);
                assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(Some(m)).unwrap(), "{}", t.name);
            }
        }
        assert!(checked >= 8 * 11, "only {checked} points checked");
    }

    /// The overhead rows pair a wrapper's points with its baseline's by point key, and only
    /// for targets that name a baseline: ray-serve at half fastapi's rate in every round
    /// reads 0.5 whatever the drift; a point the baseline lacks gives no row, nor does an
    /// open-loop point at a fraction of each one's own maximum.
    #[test]
    fn overheads_pair_a_wrapper_with_its_baseline_point_by_point() {
        let at = |values: &[f64], connections: usize| {
            let reps = values
                .iter()
                .enumerate()
                .map(|(i, &t)| Repeat { round: Some(i + 1), cpu_us_per_request: Some(1e6 / t), ..repeat(t, 0.3) })
                .collect::<Vec<_>>();
            point(Workload::Predict, Mode::Closed { connections }, None, reps, Latency::default())
        };
        let target = |name: &str, over: Option<&str>, points: Vec<Point>| crate::results::TargetResult {
            name: name.into(),
            overhead_over: over.map(str::to_owned),
            points,
            ..Default::default()
        };
        let fast = [1000.0, 800.0, 900.0];
        // Open loop at half of each one's own maximum: different offered rates, no row.
        let half_max = |values: &[f64]| {
            let reps =
                values.iter().enumerate().map(|(i, &t)| Repeat { round: Some(i + 1), ..repeat(t, 0.3) }).collect();
            let mode = Mode::Open { rate_rps: values[0], arrival: Arrival::Poisson { seed: 1 }, max_connections: 256 };
            point(Workload::Predict, mode, Some("0.5 x max (of 2000 req/s)".into()), reps, Latency::default())
        };
        let targets = vec![
            target("fastapi", None, vec![at(&fast, 64), half_max(&fast)]),
            target(
                "ray-serve",
                Some("fastapi"),
                vec![at(&fast.map(|x| x / 2.0), 64), at(&[10.0, 11.0], 1), half_max(&fast.map(|x| x / 2.0))],
            ),
            target("litestar", None, vec![at(&fast, 64)]),
        ];
        let rows = overheads(&targets);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let o = &rows[0];
        assert_eq!((o.target.as_str(), o.baseline.as_str(), o.key.connections), ("ray-serve", "fastapi", 64));
        let tp = o.throughput.as_ref().unwrap();
        assert!((tp.ratio - 0.5).abs() < 1e-9 && tp.rounds == 3 && tp.differs(), "{tp:?}");
        assert!((o.cpu_per_request.as_ref().unwrap().ratio - 2.0).abs() < 1e-9, "{o:?}");
    }

    /// A gateway's overhead over upstream-direct: TTFT and E2EL differences paired by round
    /// (a drift shared by both cancels), p99 only where the windows give it, CPU per token
    /// from the window's CPU over its tokens, and PSS per stream over the streams held by
    /// Little's law; open-loop points and targets without a direct twin give no rows.
    #[test]
    fn gateway_overheads_pair_each_target_with_upstream_direct() {
        let chat = |ttft: u64, e2el: u64, p99: Option<u64>| ChatRepeat {
            streams_complete: 100,
            streams_incomplete: 0,
            output_tokens: 3200,
            output_tokens_per_s: 800.0,
            output_chunks: 3200,
            reasoning_chunks: 0,
            tokens_from_usage: 0,
            tokens_from_chunks: 100,
            goodput_rps: None,
            ttft_us: Latency { n: Some(100), p50: ttft, p99, ..Latency::default() },
            ttft_vllm_us: Latency::default(),
            itl_us: Latency::default(),
            tpot_us: Latency::default(),
            e2el_us: Latency { n: Some(100), p50: e2el, p99, ..Latency::default() },
        };
        // Rounds drift by +5 ms on both sides alike.
        let at = |base_ttft: u64, p99: Option<u64>, cpu: Option<f64>, pss: Option<u64>| {
            let reps = (0..3u64)
                .map(|i| Repeat {
                    round: Some(i as usize + 1),
                    window_s: 4.0,
                    completed_in_window: Some(100),
                    throughput_rps: 25.0,
                    answered_mean_us: Some(640_000.0),
                    cpu_us_per_request: cpu,
                    pss_mean_bytes: pss,
                    chat: Some(chat(base_ttft + i * 5_000, 600_000 + base_ttft + i * 5_000, p99)),
                    ..repeat(25.0, 0.3)
                })
                .collect::<Vec<_>>();
            let mut p = point(Workload::Chat, Mode::Closed { connections: 16 }, None, reps, Latency::default());
            p.workload = Workload::Chat;
            p
        };
        let target = |name: &str, points: Vec<Point>, idle_pss: Option<u64>| crate::results::TargetResult {
            name: name.into(),
            points,
            cost: Some(crate::results::Cost { idle_pss_bytes: idle_pss, ..Default::default() }),
            ..Default::default()
        };
        let open = {
            let mode = Mode::Open { rate_rps: 10.0, arrival: Arrival::Poisson { seed: 1 }, max_connections: 256 };
            point(
                Workload::Chat,
                mode,
                Some("0.5 x max (of 20 req/s)".into()),
                vec![repeat(10.0, 0.3)],
                Latency::default(),
            )
        };
        let targets = vec![
            target("axum", vec![at(52_000, None, Some(3200.0), Some(20 << 20)), open.clone()], Some(4 << 20)),
            target(crate::results::UPSTREAM_DIRECT, vec![at(50_000, None, None, None), open], None),
        ];
        let rows = gateway_overheads(&targets);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let o = &rows[0];
        assert_eq!((o.target.as_str(), o.key.connections), ("axum", 16));
        let d = o.ttft_p50_us.unwrap();
        assert!((d.diff - 2_000.0).abs() < 1e-9 && d.rounds == 3 && d.ci95_low == d.ci95_high, "{d:?}");
        assert!((o.e2el_p50_us.unwrap().diff - 2_000.0).abs() < 1e-9);
        assert!(o.ttft_p99_us.is_none(), "no p99 from windows of 100 streams");
        // 3200 µs per response × 100 responses over 800 tokens/s × 4 s.
        assert!((o.cpu_us_per_token.as_ref().unwrap().median - 100.0).abs() < 1e-9, "{o:?}");
        // 25 streams/s × 0.64 s = 16 held; (20 − 4) MiB over 16.
        assert!((o.held_streams.unwrap() - 16.0).abs() < 1e-9);
        assert!((o.pss_per_stream_bytes.as_ref().unwrap().median - f64::from(1u32 << 20)).abs() < 1e-6);
        assert!(gateway_overheads(&targets[..1]).is_empty(), "no upstream-direct, no rows");
    }

    /// The paired ratio takes each round's ratio within the round: a drift that moves both
    /// sides alike cancels, and the rounds are matched by their number, not their position.
    #[test]
    fn paired_ratios_cancel_drift_between_rounds_and_match_rounds_by_number() {
        let with_rounds = |values: &[(usize, f64)]| {
            let reps =
                values.iter().map(|&(round, t)| Repeat { round: Some(round), ..repeat(t, 0.3) }).collect::<Vec<_>>();
            point(Workload::Predict, Mode::Closed { connections: 64 }, None, reps, Latency::default())
        };
        // The host slows by half over the rounds; b is always 15% slower than a.
        let drift = [1.0, 0.9, 0.7, 0.6, 0.5];
        let a = with_rounds(&drift.iter().enumerate().map(|(i, d)| (i + 1, 1000.0 * d)).collect::<Vec<_>>());
        let mut b_rounds: Vec<(usize, f64)> = drift.iter().enumerate().map(|(i, d)| (i + 1, 850.0 * d)).collect();
        b_rounds.reverse();
        let b = with_rounds(&b_rounds);
        let r = paired_ratio(&b, &a, |r| Some(r.throughput_rps)).unwrap();
        assert_eq!(r.rounds, 5);
        assert!((r.ratio - 0.85).abs() < 1e-9 && (r.ci95_high - 0.85).abs() < 1e-9, "{r:?}");
        // Unpaired, the same figures' intervals overlap widely: the drift is larger than the gap.
        let (sa, sb) = (&a.summary.throughput_rps, &b.summary.throughput_rps);
        assert!(sb.ci95_high > sa.ci95_low, "unpaired intervals overlap: {sa:?} {sb:?}");
        // Noise in the ratio widens the interval; one that contains 1 does not differ.
        let c = with_rounds(&[(1, 1000.0), (2, 1100.0), (3, 900.0)]);
        let d = with_rounds(&[(1, 1050.0), (2, 1000.0), (3, 950.0)]);
        let r = paired_ratio(&c, &d, |r| Some(r.throughput_rps)).unwrap();
        assert!(r.ci95_low < 1.0 && r.ci95_high > 1.0 && !r.differs(), "{r:?}");
        assert!(
            paired_ratio(&with_rounds(&[(1, 1.0)]), &with_rounds(&[(1, 2.0)]), |r| Some(r.throughput_rps)).is_none()
        );
        // A flag for neighbours above 2% of a core.
        let mut busy = repeat(1000.0, 0.3);
        busy.neighbour_cpu = Some(0.05);
        assert!(flags_of(&[busy.clone(), repeat(1000.0, 0.3)]).contains(&Flag::NeighbourCpu));
        busy.neighbour_cpu = Some(0.01);
        assert!(!flags_of(&[busy, repeat(1000.0, 0.3)]).contains(&Flag::NeighbourCpu));
    }
}
