//! `results.json`: the versioned public interface that reports, CI and users read
//! (docs/results.md, schema in docs/results.schema.json). Field names are stable; new fields
//! may be added. Written atomically after every completed point.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::driver::ErrorCounts;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub run_id: String,
    pub started_at: String,
    /// Null while the run is in progress (or was interrupted).
    pub finished_at: Option<String>,
    pub profile: serde_json::Value,
    pub environment: Environment,
    pub targets: Vec<TargetResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub rustc: String,
    pub git_commit: String,
    pub git_dirty: bool,
    /// `release`, or `debug` (numbers from a debug harness are not comparable).
    pub harness_build: String,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    /// CPUs the kernel actually gave the harness's threads.
    pub client_affinity: Vec<usize>,
    pub workers: usize,
    pub nofile_limit: u64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetResult {
    pub name: String,
    pub language: String,
    pub display_name: String,
    pub framework_version: String,
    pub server_setup: String,
    /// `measured`, `skipped` or `running`.
    pub status: String,
    pub skip_reason: Option<String>,
    pub verification: Option<Verification>,
    pub startup_ms: Option<f64>,
    pub idle_rss_bytes: Option<u64>,
    /// CPUs the kernel gave the server process (empty for `--url` targets).
    pub server_affinity: Vec<usize>,
    pub shutdown: Option<String>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub cases: usize,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub case: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub workload: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Closed loop: connections. Open loop: the pool's upper bound.
    pub connections: usize,
    /// Open loop: the offered rate.
    pub rate_rps: Option<f64>,
    /// Open loop: how the rate was chosen, e.g. `0.5 x max` or `absolute`.
    pub rate_basis: Option<String>,
    /// Open loop: `constant` or `poisson`.
    pub arrival: Option<String>,
    pub summary: PointSummary,
    pub repeats: Vec<Repeat>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub cv: f64,
}

impl From<crate::stats::Summary> for Spread {
    fn from(s: crate::stats::Summary) -> Self {
        Spread { median: s.median, min: s.min, max: s.max, ci95_low: s.ci95_low, ci95_high: s.ci95_high, cv: s.cv }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointSummary {
    pub throughput_rps: Spread,
    /// Percentiles of all repeats' latencies merged, in µs.
    pub latency_us: Latency,
    /// Median over repeats of server CPU-µs per response.
    pub cpu_us_per_request: Option<f64>,
    pub rss_peak_bytes: Option<u64>,
    /// Median over repeats of the harness's CPU share.
    pub client_cpu_share: f64,
    pub errors: u64,
    pub dropped: u64,
    pub flags: Vec<String>,
    /// Streaming points only (docs/metrics.md, "Streaming").
    pub streaming: Option<StreamSummary>,
}

/// Streaming figures of a point: percentiles over all repeats' streams merged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamSummary {
    pub token_delay_ms: u64,
    pub ttft_us: Latency,
    pub itl_us: Latency,
    pub tpot_us: Latency,
    /// TTFT percentiles minus `token_delay_ms`: what the framework adds before the first token.
    pub ttft_overhead_us: SignedPercentiles,
    /// ITL percentiles minus `token_delay_ms`: how unsteady the later tokens are.
    pub itl_jitter_us: SignedPercentiles,
    /// Median over repeats of token events per second of window.
    pub tokens_per_s: f64,
    /// Complete, correct streams ÷ streams, over all repeats.
    pub streams_correct_share: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SignedPercentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Streaming figures of one repeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamRepeat {
    pub streams_complete: u64,
    pub streams_incomplete: u64,
    pub tokens: u64,
    pub tokens_per_s: f64,
    pub ttft_us: Latency,
    pub itl_us: Latency,
    pub tpot_us: Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repeat {
    pub throughput_rps: f64,
    pub responses: u64,
    pub window_s: f64,
    pub latency_us: Latency,
    pub cpu_us_per_request: Option<f64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_mean_bytes: Option<u64>,
    pub client_cpu_share: f64,
    pub statuses: BTreeMap<String, u64>,
    pub errors: ErrorCounts,
    pub scheduled: u64,
    pub dropped: u64,
    pub bodies_checked: u64,
    pub connections_opened: u64,
    pub mismatches: Vec<String>,
    pub streaming: Option<StreamRepeat>,
}

/// Writes `results` to `dir/results.json` atomically (temp file, then rename), so a reader
/// or an interrupted run never sees half a file.
pub fn write_atomic(dir: &Path, results: &Results) -> std::io::Result<()> {
    let tmp = dir.join(".results.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(results).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, dir.join("results.json"))
}
