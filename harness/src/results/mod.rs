//! `results.json`: the versioned public interface that reports, CI and users read
//! (docs/results.md, schema in docs/results.schema.json). Field names are stable; new fields
//! may be added. Written atomically after every completed point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

mod kinds;
pub use kinds::{
    Api, CLIENT_BOUND_SHARE, CLIENT_LAG_SHARE, Flag, NEIGHBOUR_CPU_CORES, OVERLOAD_COMPLETED_SHARE,
    OVERLOAD_P50_GROWTH, PointMode, TargetStatus, Workload,
};

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
    /// Set when a signal (Ctrl-C, SIGTERM, SIGHUP) ended the run: its figures are partial.
    #[serde(default)]
    pub interrupted: Option<Interruption>,
    /// The order the targets ran in: the shuffle's seed and every round's order
    /// (docs/methodology.md, "Interleaved rounds").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<RunOrder>,
    /// What `harness run --resume` needs: the command line, the machine and the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
    /// Each time `harness run --resume` continued this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Resumed>,
}

/// The order of a run's rounds: within a workload every target's server is up, and round
/// r of a point runs on every target, in an order shuffled from `seed`, before round r + 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOrder {
    pub seed: u64,
    pub rounds: Vec<RoundOrder>,
}

/// One round of one step: the targets in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundOrder {
    pub workload: Workload,
    /// The step's index in the workload's plan (`harness run --dry-run`).
    pub step: usize,
    /// The point (`health closed c=64`) or the step (`infer-cpu calibration`).
    pub label: String,
    /// 1-based.
    pub round: usize,
    pub targets: Vec<String>,
}

/// What a run was started with, so that `--resume` can continue it and refuse a different
/// machine or different code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The arguments after `harness` (without `--resume`).
    pub args: Vec<String>,
    pub machine: MachineId,
    pub code: CodeId,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineId {
    pub hostname: String,
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub kernel: String,
    /// The CPUs this process may run on (its affinity).
    pub cpu_set: Vec<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeId {
    pub git_commit: String,
    /// A hash of `git diff HEAD` and the untracked files under `harness/`, `workloads/` and
    /// `frameworks/`: empty for a clean tree.
    pub diff_hash: String,
}

/// One `--resume`: when, and what differed that `--force` let through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    pub at: String,
    /// The interruption the run was resumed from, if a signal ended it.
    pub after: Option<Interruption>,
    pub forced_differences: Vec<String>,
}

/// A latency histogram as the journal keeps it between a round and its point (and across a
/// resume): every recorded value with its count, as hdrhistogram iterates them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hist(pub Vec<(u64, u64)>);

impl Hist {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Hist(h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect())
    }

    /// Adds the recorded values into `h` (same bounds as the one it came from).
    pub fn add_to(&self, h: &mut hdrhistogram::Histogram<u64>) {
        for &(v, n) in &self.0 {
            h.saturating_record_n(v, n);
        }
    }
}

impl Results {
    /// A run that starts now: no targets yet, not finished; its id is `out_dir`'s name.
    pub fn begin(out_dir: &Path, profile: serde_json::Value, environment: Environment) -> Self {
        Results {
            schema_version: SCHEMA_VERSION,
            run_id: out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            started_at: now_rfc3339(),
            finished_at: None,
            profile,
            environment,
            targets: Vec::new(),
            interrupted: None,
            order: None,
            invocation: None,
            resumes: Vec::new(),
        }
    }

    /// Records that a signal ended the run: on the run, and on the target it was working on
    /// (status `interrupted`); that target's completed points are kept. A record already
    /// there stays (a second signal does not rewrite the first one's).
    pub fn mark_interrupted(&mut self, i: &Interruption) {
        if self.interrupted.is_some() {
            return;
        }
        let at_target =
            |t: &TargetResult| i.target.as_deref().map_or(t.status == TargetStatus::Running, |n| n == t.name);
        if let Some(t) = self.targets.iter_mut().rev().find(|t| at_target(t) && t.status == TargetStatus::Running) {
            t.status = TargetStatus::Interrupted;
            t.interrupted = Some(i.clone());
        }
        self.interrupted = Some(i.clone());
    }
}

impl Interruption {
    /// One line: `at 2026-…Z, hyper: measuring predict closed c=64, repeat 1 of 2`.
    pub fn describe(&self) -> String {
        let mut s = format!("at {}", self.at);
        if let Some(t) = &self.target {
            s.push_str(&format!(", {t}"));
        }
        match (&self.during, &self.point) {
            (Some(d), Some(p)) => s.push_str(&format!(": {d} {p}")),
            (Some(d), None) => s.push_str(&format!(": {d}")),
            (None, Some(p)) => s.push_str(&format!(": {p}")),
            (None, None) => {}
        }
        if let (Some(i), Some(n)) = (self.repeat, self.repeats) {
            s.push_str(&format!(", repeat {i} of {n}"));
        }
        s
    }
}

/// Where and when a signal ended a run (docs/results.md, "Interrupted runs").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// When the first signal came (RFC 3339, UTC).
    pub at: String,
    /// The target being worked on, if any.
    pub target: Option<String>,
    /// Its step: `building`, `starting`, `verifying`, `robustness`, `stopping`, `measuring` or
    /// `startup runs`.
    pub during: Option<String>,
    /// The point being measured, as `<workload> <mode> c=<connections>[ rate=<req/s>]`.
    pub point: Option<String>,
    /// The repeat of that point (1-based) that was cut short, and how many it would have had.
    pub repeat: Option<usize>,
    pub repeats: Option<usize>,
    /// `harness` (the main thread stopped at a safe point), `watchdog` (it did not within
    /// 1 s, so the signal's watchdog wrote this from the last saved results) or `second signal`.
    pub recorded_by: String,
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
    /// infer-cpu's `work`, calibrated once per run (docs/metrics.md, "Event-loop probe").
    #[serde(default)]
    pub cpu_work: Option<u64>,
    /// The calibration's timing: CPU ms of `work = 1000` with the shared model on the server CPU.
    #[serde(default)]
    pub cpu_work_ms_per_1000: Option<f64>,
    /// Environment variables that change numpy's speed (`OPENBLAS_CORETYPE`,
    /// `OPENBLAS_L2_SIZE`, thread counts), as the servers inherit them; null when unset.
    #[serde(default)]
    pub numeric_env: std::collections::BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetResult {
    pub name: String,
    pub language: String,
    pub display_name: String,
    pub framework_version: String,
    pub server_setup: String,
    pub status: TargetStatus,
    pub skip_reason: Option<String>,
    pub verification: Option<Verification>,
    pub startup_ms: Option<f64>,
    pub idle_rss_bytes: Option<u64>,
    /// CPUs the kernel gave the server process (empty for `--url` targets).
    pub server_affinity: Vec<usize>,
    pub shutdown: Option<String>,
    pub points: Vec<Point>,
    /// Startup and cost of ownership (docs/metrics.md, "Cost of ownership").
    #[serde(default)]
    pub cost: Option<Cost>,
    /// Memory per unit of concurrency, fitted across points (docs/metrics.md, "Memory fits").
    #[serde(default)]
    pub memory: Option<MemoryFits>,
    /// The hostile corpus, slowloris and disconnects (docs/metrics.md, "Robustness");
    /// present when the run or `harness verify --hostile` measured it.
    #[serde(default)]
    pub robustness: Option<Robustness>,
    /// Where a signal stopped this target (status `interrupted`).
    #[serde(default)]
    pub interrupted: Option<Interruption>,
    /// infer-cpu's `work` for this target, calibrated on its own server CPU per request
    /// (docs/metrics.md, "Event-loop probe").
    #[serde(default)]
    pub cpu_calibration: Option<CpuCalibration>,
    /// The API it was measured through (`openai` for an OpenAI-compatible `--url` server;
    /// absent for our contract).
    #[serde(default, skip_serializing_if = "is_contract")]
    pub api: Api,
    /// `--api openai`: the `model` every request names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The target whose app this one wraps (its manifest's `overhead_over`): the report's
    /// overhead table gives this target's paired ratios to that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead_over: Option<String>,
}

fn is_contract(a: &Api) -> bool {
    *a == Api::Contract
}

/// How infer-cpu's `work` was chosen for one target: trials at concurrency 1, each
/// measuring the server's CPU per request, until one is within the tolerance of the target.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuCalibration {
    /// What one request should cost on the server CPU (the profile's `cpu_target_ms`).
    pub target_ms: f64,
    /// The first trial's `work`: the run's in-process calibration of the shared Rust model
    /// (`environment.cpu_work`).
    pub seed_work: u64,
    /// The `work` every infer-cpu request of this target sends.
    pub work: u64,
    /// Server CPU ms per request measured at `work` (the last trial); null when not measured.
    pub measured_ms: Option<f64>,
    /// `calibrated` (trials on this target), `fixed` (the caller set `work`) or
    /// `not measured: <why>` (no server CPU to read, as for a `--url` target).
    pub method: String,
    pub trials: Vec<CalibrationTrial>,
}

/// One calibration trial: a closed-loop window at concurrency 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CalibrationTrial {
    pub work: u64,
    /// Server CPU ms per request completed in the window.
    pub cpu_ms: Option<f64>,
    /// Requests completed in the window.
    pub completed: u64,
    pub window_s: f64,
}

/// How a target stood up to hostile input, slow clients and vanishing clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Robustness {
    /// Cases in the hostile corpus, and how many passed.
    pub cases: usize,
    pub passed: usize,
    pub failures: Vec<Failure>,
    /// Answers with a 5xx status, over the whole corpus.
    pub server_errors: usize,
    /// 1 when the server died during the robustness checks.
    pub crashes: usize,
    /// `/health` right after the corpus: its latency, or why it failed.
    pub health_after_ms: Option<f64>,
    pub health_after_error: Option<String>,
    /// RSS of the server's process tree before and after the corpus.
    pub idle_rss_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    pub rss_growth_bytes: Option<i64>,
    /// Lines of the server's stderr that mention a panic.
    pub panics_logged: Vec<String>,
    pub slowloris: Option<Slowloris>,
    pub disconnect: Option<Disconnect>,
    /// Everything above within its bar (docs/metrics.md, "Robustness").
    pub ok: bool,
}

/// Connections that send their request head one byte per second, with `/health` probed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Slowloris {
    pub connections: usize,
    pub opened: usize,
    pub duration_s: f64,
    pub probes: usize,
    pub probes_failed: usize,
    pub health_max_ms: Option<f64>,
    /// Every probe answered 200 within 1 s.
    pub health_ok: bool,
    /// Slow connections the server closed (a header read timeout) before the end.
    pub closed_by_server: usize,
    pub first_close_s: Option<f64>,
}

/// Generate streams dropped by the client mid-stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Disconnect {
    pub streams: usize,
    pub opened: usize,
    /// Streams that had sent bytes by the time they were dropped.
    pub answering: usize,
    pub max_tokens: u64,
    pub token_delay_ms: u64,
    pub dropped_after_ms: f64,
    /// Server CPU (cores) before the streams, and while they ran.
    pub idle_cpu_cores: f64,
    pub loaded_cpu_cores: f64,
    /// Seconds after the drop until the server's CPU was back to idle (None: not within
    /// the watch period).
    pub cpu_idle_after_s: Option<f64>,
    pub cpu_ok: bool,
    /// Cycles run before the judged ones: they grow the allocator's pools to their
    /// high-water mark, and are reported but not judged (docs/metrics.md, "Robustness").
    pub warmup_cycles: usize,
    /// The judged cycle whose RSS moved most: its RSS before the streams and after the drop.
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub rss_change_pct: f64,
    /// Every judged cycle's RSS back within the tolerance of where that cycle started.
    pub rss_ok: bool,
    /// The first cycle, on the server as the corpus left it: how much the allocator kept.
    pub first_cycle_rss_before_bytes: u64,
    pub first_cycle_rss_after_bytes: u64,
    pub first_cycle_rss_change_pct: f64,
    pub first_cycle_cpu_idle_after_s: Option<f64>,
    /// Every cycle, warm-up ones first.
    pub cycles: Vec<DisconnectCycle>,
}

/// The share of a disconnect cycle's streams that must be answering when the client drops
/// them for the cycle to show anything: a server that serves a handful (a 32-thread pool
/// of 500) has little to stop, and would pass by default.
pub const MIN_ALIVE_SHARE: f64 = 0.9;

impl Disconnect {
    /// Whether the CPU and RSS verdicts judge anything: every judged cycle had at least
    /// [`MIN_ALIVE_SHARE`] of its streams answering at the drop. Computed from the recorded
    /// cycles, so it holds for files written before the rule too.
    pub fn judged(&self) -> bool {
        let judged: Vec<&DisconnectCycle> = self.cycles.iter().filter(|c| c.judged).collect();
        !judged.is_empty() && judged.iter().all(|c| c.answering as f64 >= MIN_ALIVE_SHARE * self.streams as f64)
    }

    /// Why the disconnect verdicts judge nothing, when they do not.
    pub fn not_judged_because(&self) -> Option<String> {
        (!self.judged()).then(|| {
            let fewest = self.cycles.iter().filter(|c| c.judged).map(|c| c.answering).min().unwrap_or(0);
            format!(
                "not judged: as few as {fewest} of {} streams were answering at the drop (at least {:.0}% must be)",
                self.streams,
                MIN_ALIVE_SHARE * 100.0
            )
        })
    }
}

/// One open-and-drop cycle of [`Disconnect`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DisconnectCycle {
    pub judged: bool,
    pub opened: usize,
    pub answering: usize,
    /// Server CPU (cores) over 1 s before the streams, and while they ran.
    pub idle_cpu_cores: f64,
    pub loaded_cpu_cores: f64,
    pub cpu_idle_after_s: Option<f64>,
    /// RSS before the streams, just before the drop, and `settle` after it.
    pub rss_before_bytes: u64,
    pub rss_at_drop_bytes: u64,
    pub rss_after_bytes: u64,
    pub rss_change_pct: f64,
}

/// What a target costs to own, beside its speed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Milliseconds from spawn to the first 200 on the readiness path, per cold start.
    pub startup_runs_ms: Vec<f64>,
    /// Median of `startup_runs_ms`.
    pub startup_ms_median: Option<f64>,
    /// RSS of the server's process tree after readiness, before any load.
    pub idle_rss_bytes: Option<u64>,
    /// Size of the release binary (Rust) on disk.
    pub binary_bytes: Option<u64>,
    /// Unique crates in the target package's dependency graph (Rust), or installed
    /// distributions in the venv (Python).
    pub dependency_count: Option<usize>,
    /// What `dependency_count` counts: `crates` or `python packages`.
    pub dependency_kind: Option<String>,
    /// Non-blank, non-comment lines of the implementation in the target's own directory.
    pub loc: Option<u64>,
    /// Seconds of the release build of the target's own package.
    pub build_s: Option<f64>,
    /// `incremental` (dependencies already built) or `clean`.
    pub build_kind: Option<String>,
    /// Python, before the per-target closure: size of the whole shared venv on disk (files
    /// written before then only; see `install_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venv_bytes: Option<u64>,
    /// Python: bytes on disk of the files the target's own dependency closure installed
    /// (its `python_requires` and everything they pull in, per each distribution's RECORD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_bytes: Option<u64>,
    /// PSS of the server's process tree after readiness, before any load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_pss_bytes: Option<u64>,
    /// Processes and threads of the server's tree at idle (everything it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_processes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_threads: Option<usize>,
    /// Server CPU (cores) over the idle window, before any load: what the target burns
    /// doing nothing (Ray's controller and agents poll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_cpu_cores: Option<f64>,
    /// Seconds of the idle window those were read over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_window_s: Option<f64>,
}

/// Least-squares fits of mean PSS against the concurrency the server held.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryFits {
    /// Slope of PSS over the `generate` streams the server held open.
    pub bytes_per_open_stream: Option<Fit>,
    /// Slope of PSS over the `infer-io` requests the server held in flight.
    pub bytes_per_inflight_request: Option<Fit>,
}

/// `pss = intercept + slope × x`, fitted over `points` (x = held concurrency, mean PSS in
/// bytes), one per closed-loop level; the lowest level is the warmed baseline. Files from
/// before PSS was read hold (connections, mean RSS), with the idle RSS at x = 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fit {
    pub slope_bytes: f64,
    pub intercept_bytes: f64,
    /// Coefficient of determination; near 1 when RSS grows linearly.
    pub r2: f64,
    pub points: Vec<[f64; 2]>,
}

/// The name of the gateways' upstream measured straight, a target of its own
/// (`plan::TargetSource::Upstream`; docs/metrics.md, "Gateway overhead").
pub const UPSTREAM_DIRECT: &str = "upstream-direct";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub cases: usize,
    pub failures: Vec<Failure>,
    /// Corpus cases not judged: a `--url` target's upstream-fault cases, which need the
    /// upstream to be our mock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_judged: Vec<String>,
    /// A gateway's checks beyond the corpus (content against the mock, one upstream request
    /// per caller, cancellation), counted in `cases`; the slowest dropped caller's upstream
    /// cancellation as the mock saw it, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_cancel_ms: Option<f64>,
}

impl Verification {
    /// The record of a conformance corpus run of `cases` cases.
    pub fn of(report: &workloads::conformance::CorpusReport, cases: usize) -> Self {
        Verification {
            passed: report.failed.is_empty(),
            cases,
            failures: Failure::all(&report.failed),
            ..Verification::default()
        }
    }
}

impl Failure {
    /// A corpus report's failed cases, each with its reasons.
    pub fn all(failed: &[(String, Vec<String>)]) -> Vec<Failure> {
        failed.iter().map(|(case, reasons)| Failure { case: case.clone(), reasons: reasons.clone() }).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub case: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub workload: Workload,
    pub mode: PointMode,
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
    /// Its rounds were measured on both sides of a `--resume` (on two server instances).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
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

/// Latency percentiles of one histogram, in µs. A percentile is given only when at least
/// 10 samples lie beyond it (n ≥ 10 / (1 − q): p90 from 100, p99 from 1,000, p99.9 from
/// 10,000; [`min_samples`]); below that it is null, since from fewer it is one of the few
/// largest samples (p99.9 of 44 is the maximum). p50 and the maximum are always given,
/// beside `n` (docs/metrics.md, "Percentiles and samples").
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Samples in the histogram; null in files written before 2026-12-02, whose
    /// percentiles were given from any count.
    #[serde(default)]
    pub n: Option<u64>,
    /// A percentile at or above [`FAILED_US`] falls among failed requests ("> timeout").
    pub p50: u64,
    /// Absent (not null) where too few samples give it, so no reader takes it as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999: Option<u64>,
    pub max: u64,
}

/// Samples needed to give percentile `q`: 10 beyond it, n ≥ 10 / (1 − q).
pub fn min_samples(q: f64) -> u64 {
    (10.0 / (1.0 - q)).round() as u64
}

/// Where a failed request (transport error, timeout, unexpected status, dropped) sits in a
/// latency histogram: 60 s, above every request timeout, so a percentile at or above it
/// reads "> timeout" (docs/metrics.md, "Failures in latency").
pub const FAILED_US: u64 = 60_000_000;

impl Latency {
    /// Whether percentile value `v` (µs) falls among failed requests: within the
    /// histogram's 3 significant digits of [`FAILED_US`] (no answer is recorded above the
    /// request timeout, 10 s).
    pub fn is_failure(v: u64) -> bool {
        v >= FAILED_US - FAILED_US / 1000
    }

    /// A percentile as tables print it: its µs, "> timeout" where it falls among failures,
    /// "–" where too few samples give it.
    pub fn show(v: Option<u64>) -> String {
        match v {
            None => "–".into(),
            Some(v) if Self::is_failure(v) => "> timeout".into(),
            Some(v) => v.to_string(),
        }
    }

    /// The sample count as tables print it ("?" for files that did not record it).
    pub fn show_n(&self) -> String {
        self.n.map_or("?".into(), |n| n.to_string())
    }

    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Self::gated(h.len(), h.max(), |q| h.value_at_quantile(q))
    }

    /// The percentiles `quantile` gives for `n` samples, each only from enough of them
    /// ([`min_samples`]): the one rule for our histograms and goose's.
    pub fn gated(n: u64, max: u64, quantile: impl Fn(f64) -> u64) -> Self {
        let at = |q: f64| (n >= min_samples(q)).then(|| quantile(q));
        Latency { n: Some(n), p50: quantile(0.50), p90: at(0.90), p99: at(0.99), p999: at(0.999), max }
    }

    /// The tail percentile every one of `sets` gives: p99 where each has the samples for
    /// it, else p90, else p50, with its name, so one column (or one comparison) holds one
    /// percentile (docs/metrics.md, "Percentiles and samples").
    pub fn common_tail<'a>(sets: impl IntoIterator<Item = &'a Latency>) -> (&'static str, fn(&Latency) -> Option<u64>) {
        let sets: Vec<&Latency> = sets.into_iter().collect();
        if sets.iter().all(|l| l.p99.is_some()) {
            ("p99", |l| l.p99)
        } else if sets.iter().all(|l| l.p90.is_some()) {
            ("p90", |l| l.p90)
        } else {
            ("p50", |l| Some(l.p50))
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
    pub flags: Vec<Flag>,
    /// Streaming points only (docs/metrics.md, "Streaming").
    pub streaming: Option<StreamSummary>,
    /// Median over repeats of the server's mean RSS during the window.
    #[serde(default)]
    pub rss_mean_bytes: Option<u64>,
    /// `infer-io` points only (docs/metrics.md, "In-flight sweep").
    #[serde(default)]
    pub inflight: Option<InflightSummary>,
    /// `infer-cpu` points only (docs/metrics.md, "Event-loop probe").
    #[serde(default)]
    pub probe: Option<ProbeSummary>,
    /// `mixed` points only (docs/metrics.md, "Mixed traffic").
    #[serde(default)]
    pub mixed: Option<MixedSummary>,
    /// Median over repeats of the server tree's mean PSS in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_mean_bytes: Option<u64>,
    /// Closed loop, exchanges with a set hold (generate, infer-io): the concurrency the
    /// server held, median throughput × that hold (docs/metrics.md, "Memory fits").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_concurrency: Option<f64>,
    /// Open loop: the driver's send lag over all repeats, µs (docs/metrics.md, "Send lag").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<Latency>,
    /// Workloads with an exchange floor (infer-io, generate): answered requests' latency
    /// minus that floor, all repeats, µs, read to 0.1% of itself (docs/metrics.md, "In-flight sweep").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead_us: Option<Latency>,
    /// `chat` points only (docs/metrics.md, "Chat").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatSummary>,
    /// This workload's latency objectives (`--slo predict.p99=10ms`), judged on the point
    /// (docs/metrics.md, "Objectives").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
}

/// One latency objective judged on one point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Objective {
    /// As `--slo` spells it: `predict.p99=10ms`.
    pub objective: String,
    /// The point's percentile (all repeats merged, failures included), µs; absent where
    /// too few samples give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_us: Option<u64>,
    /// Within the limit and not overloaded; absent where the percentile is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

/// A chat point's figures: percentiles over all repeats' streams merged, rates as medians
/// over repeats with their intervals (docs/metrics.md, "Chat").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatSummary {
    /// Our rule: from the scheduled (open loop) or send (closed loop) time to the first
    /// output chunk; failed streams excluded.
    pub ttft_us: Latency,
    /// vLLM's client rule: from the send to the first chunk with non-empty `choices`.
    pub ttft_vllm_us: Latency,
    /// Gaps between consecutive output chunks, pooled across streams.
    pub itl_us: Latency,
    /// (E2EL − TTFT) ÷ (output tokens − 1), per stream of at least 2 tokens.
    pub tpot_us: Latency,
    /// From the start to the last output chunk.
    pub e2el_us: Latency,
    /// Output tokens per second of window.
    pub output_tokens_per_s: Spread,
    /// Requests per second of window meeting every `chat` objective given (`--slo`);
    /// absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<Spread>,
    /// The objectives goodput counts, as given (`chat.ttft=200ms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<String>,
    /// Streams whose tokens came from `usage.completion_tokens`, and those counted from
    /// their output chunks (the fallback: the server sent no usage).
    pub tokens_from_usage: u64,
    pub tokens_from_chunks: u64,
    pub output_chunks: u64,
    /// Output chunks that carried reasoning only (`reasoning_content`/`reasoning`).
    pub reasoning_chunks: u64,
    pub streams_complete: u64,
    pub streams_incomplete: u64,
}

/// A chat window's own figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRepeat {
    pub streams_complete: u64,
    pub streams_incomplete: u64,
    pub output_tokens: u64,
    pub output_tokens_per_s: f64,
    pub output_chunks: u64,
    pub reasoning_chunks: u64,
    pub tokens_from_usage: u64,
    pub tokens_from_chunks: u64,
    /// Requests meeting every `chat` objective, per second of window (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
    pub ttft_us: Latency,
    pub ttft_vllm_us: Latency,
    pub itl_us: Latency,
    pub tpot_us: Latency,
    pub e2el_us: Latency,
}

/// Slow I/O-bound inference at a fixed number of in-flight requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InflightSummary {
    pub latency_ms: u64,
    /// connections ÷ latency: the rate a zero-overhead server would reach.
    pub ideal_rps: f64,
    /// Median throughput ÷ ideal, in percent.
    pub efficiency_pct: f64,
    /// Latency percentiles minus `latency_ms`, in µs.
    pub overhead_us: SignedPercentiles,
}

/// CPU-bound inference with a `/health` probe beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// The `work` parameter sent with every request (calibrated once per run).
    pub work: u64,
    /// The probe's open-loop rate, req/s.
    pub rate_rps: f64,
    /// Probe latency while the CPU load runs, all repeats merged (µs).
    pub loaded_us: Latency,
    /// Probe latency with no other load, measured just before (µs).
    pub idle_us: Latency,
    /// The same with the server and client CPUs kept awake by a `SCHED_IDLE` spinner: the floor under
    /// the loaded points' CPU conditions (docs/metrics.md, "Event-loop probe"); absent where
    /// the spinner could not start, and in files before 2026-12-02.
    #[serde(default)]
    pub awake_us: Option<Latency>,
    pub probe_requests: u64,
    pub probe_errors: u64,
}

/// A goose scenario: per-transaction figures as goose measured them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixedSummary {
    pub users: usize,
    pub transactions: Vec<MixedTransaction>,
    /// goose's HTML report, relative to the run dir.
    pub goose_report: Option<String>,
    /// The harness's CPU seconds per request sent by goose.
    pub client_cpu_us_per_request: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixedTransaction {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    /// Percentiles as goose computes them from its own timing buckets (µs).
    pub latency_us: Latency,
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
    /// ITL percentiles minus `token_delay_ms`: the offset from the pace (its p50 is the
    /// timer's bias, not jitter; the spread below is the jitter).
    pub itl_jitter_us: SignedPercentiles,
    /// ITL percentiles minus the ITL p50: the jitter, a spread (p50 is 0 by construction).
    #[serde(default)]
    pub itl_spread_us: Option<SignedPercentiles>,
    /// Median over repeats of token events per second of window.
    pub tokens_per_s: f64,
    /// Complete, correct streams ÷ streams, over all repeats.
    pub streams_correct_share: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SignedPercentiles {
    pub p50: f64,
    /// Absent where the latency's own percentile is (too few samples: [`Latency`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999: Option<f64>,
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
    /// Responses that ended inside the window, whenever sent: `throughput_rps` × `window_s`
    /// (absent in files from before it was recorded: then `responses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_in_window: Option<u64>,
    /// Open loop: latency p50 (µs) of the requests scheduled in each third of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thirds_p50_us: Option<[u64; 3]>,
    /// Open loop: the requests a server that keeps up would answer inside the window (those
    /// scheduled one median latency before it; docs/metrics.md, "Flags"); absent in files
    /// from before 2026-12-02, where the rule compares with `scheduled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_in_window: Option<u64>,
    /// Failed requests (transport errors, timeouts, unexpected statuses, dropped): each is
    /// in `latency_us` at `FAILED_US`.
    #[serde(default)]
    pub failed: u64,
    /// Mean latency of the answered requests, µs (failures excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_mean_us: Option<f64>,
    /// Closed loop: how long the window's start waited past the warm-up for the
    /// connections' phases to align (docs/metrics.md, "Throughput").
    #[serde(default)]
    pub alignment_wait_s: f64,
    /// Mean PSS of the server's tree over the window's readings (window edges and 1 Hz).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_mean_bytes: Option<u64>,
    /// The sampler's own CPU over the window, as a share of one core (part of
    /// `client_cpu_share`'s numerator).
    #[serde(default)]
    pub sampler_cpu_share: f64,
    /// Open loop: the window's own requests that got an answer, whenever it came; the
    /// throughput counts at most these (docs/metrics.md, "How throughput is counted").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_of_window: Option<u64>,
    /// Open loop: the driver's send lag of this window's requests, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<Latency>,
    /// This window's answered requests' latency beyond the exchange floor, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead_us: Option<Latency>,
    /// The round this window belongs to (1-based; docs/methodology.md, "Interleaved rounds").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
    /// The other targets' servers' CPU while this window (and its warm-up) ran, in cores:
    /// they share the server CPUs (flag `neighbour_cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour_cpu: Option<f64>,
    /// `chat` windows only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatRepeat>,
}

/// Errors by kind (docs/metrics.md, "errors").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorCounts {
    pub connect: u64,
    pub timeout: u64,
    pub reset: u64,
    pub unexpected_status: u64,
    pub body_mismatch: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.reset + self.unexpected_status + self.body_mismatch
    }

    pub(crate) fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.reset += o.reset;
        self.unexpected_status += o.unexpected_status;
        self.body_mismatch += o.body_mismatch;
    }
}

/// Identifies "the same point" across targets and across runs: workload, mode, connections,
/// and for open loop how the rate was chosen (absolute rates by value; fractions of each
/// target's own maximum by the fraction, since the resulting rate differs per target).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointKey {
    pub workload: Workload,
    pub mode: PointMode,
    pub connections: usize,
    pub rate: String,
}

impl PointKey {
    pub fn of(p: &Point) -> Self {
        let rate = match (&p.rate_basis, p.rate_rps) {
            (Some(b), _) if !b.starts_with("absolute") => b.split(" (").next().unwrap_or(b).trim().to_owned(),
            (_, Some(r)) => format!("{r:.0} req/s"),
            (None, None) => String::new(),
            (Some(b), None) => b.clone(),
        };
        PointKey { workload: p.workload, mode: p.mode, connections: p.connections, rate }
    }

    /// `closed c=64`, `open 2000 req/s`, `open 0.5 x max`.
    pub fn setting(&self) -> String {
        if self.mode == PointMode::Open {
            format!("open {}", self.rate)
        } else {
            format!("{} c={}", self.mode, self.connections)
        }
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.workload, self.setting())
    }
}

/// Why a results file cannot be used. Callers map these to exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot read {path}: {source}; give a run directory written by `harness run` (it holds results.json) or the file itself"
    )]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(
        "{path} has schema_version {found}, but this harness reads version {expected}; use a harness built for that version (docs/results.md)"
    )]
    Schema { path: PathBuf, found: String, expected: u32 },
    #[error("{path} does not match the results.json format: {source}")]
    Format { path: PathBuf, source: serde_json::Error },
}

/// Reads `results.json` from a run dir (or the file itself): the typed results, and the raw
/// JSON for fields this build does not know (they are shown generically).
pub fn load(path: &Path) -> Result<(Results, serde_json::Value), LoadError> {
    let file = if path.is_dir() { path.join("results.json") } else { path.to_path_buf() };
    let bytes = std::fs::read(&file).map_err(|source| LoadError::Read { path: file.clone(), source })?;
    let raw: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| LoadError::Json { path: file.clone(), source })?;
    match raw.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        other => {
            return Err(LoadError::Schema {
                path: file,
                found: other.map_or_else(|| "missing".to_owned(), |v| v.to_string()),
                expected: SCHEMA_VERSION,
            });
        }
    }
    let results = serde_json::from_value(raw.clone()).map_err(|source| LoadError::Format { path: file, source })?;
    Ok((results, raw))
}

/// The time now as results.json records times (RFC 3339, UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The `profile.name` of a results file written by `harness verify --hostile` (no points).
pub const VERIFY_PROFILE: &str = "verify-hostile";

/// Writes `results` to `dir/results.json` atomically (temp file, then rename), so a reader
/// or an interrupted run never sees half a file.
pub fn write_atomic(dir: &Path, results: &Results) -> std::io::Result<()> {
    let tmp = dir.join(".results.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(results).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, dir.join("results.json"))
}

#[cfg(test)]
mod interruption_tests {
    use super::*;

    fn interruption(target: Option<&str>) -> Interruption {
        Interruption {
            at: "2026-12-01T20:00:00Z".into(),
            target: target.map(str::to_owned),
            during: Some("measuring".into()),
            point: Some("predict closed c=64".into()),
            repeat: Some(1),
            repeats: Some(3),
            recorded_by: "harness".into(),
        }
    }

    fn run(statuses: &[(&str, &str)]) -> Results {
        let mut r = Results::begin(Path::new("/tmp/run-x"), serde_json::json!({}), Environment::default());
        for (name, status) in statuses {
            r.targets.push(TargetResult {
                name: (*name).into(),
                status: serde_json::from_value(serde_json::json!(status)).unwrap(),
                ..TargetResult::default()
            });
        }
        r
    }

    #[test]
    fn only_the_running_target_is_marked_and_the_run_too() {
        let mut r = run(&[("axum", "measured"), ("hyper", "running")]);
        r.mark_interrupted(&interruption(Some("hyper")));
        assert_eq!(r.targets[0].status, TargetStatus::Measured);
        assert!(r.targets[0].interrupted.is_none());
        assert_eq!(r.targets[1].status, TargetStatus::Interrupted);
        assert_eq!(r.targets[1].interrupted, Some(interruption(Some("hyper"))));
        assert_eq!(r.interrupted, Some(interruption(Some("hyper"))));
        assert!(r.finished_at.is_none());
    }

    #[test]
    fn a_signal_between_targets_marks_the_run_only() {
        // The next target was not registered yet; the finished one keeps its status.
        let mut r = run(&[("axum", "measured")]);
        r.mark_interrupted(&interruption(Some("hyper")));
        assert_eq!(r.targets[0].status, TargetStatus::Measured);
        assert!(r.interrupted.is_some());
        // Without a target name, the one still running is the one.
        let mut r = run(&[("axum", "measured"), ("poem", "running")]);
        r.mark_interrupted(&interruption(None));
        assert_eq!(r.targets[1].status, TargetStatus::Interrupted);
    }

    #[test]
    fn a_second_record_does_not_replace_the_first() {
        let mut r = run(&[("hyper", "running")]);
        r.mark_interrupted(&interruption(Some("hyper")));
        let second = Interruption { recorded_by: "second signal".into(), ..interruption(Some("hyper")) };
        r.mark_interrupted(&second);
        assert_eq!(r.interrupted.as_ref().unwrap().recorded_by, "harness");
        assert_eq!(r.targets[0].interrupted.as_ref().unwrap().recorded_by, "harness");
    }

    #[test]
    fn the_record_reads_as_one_line_and_round_trips() {
        let i = interruption(Some("hyper"));
        assert_eq!(i.describe(), "at 2026-12-01T20:00:00Z, hyper: measuring predict closed c=64, repeat 1 of 3");
        let bare = Interruption { target: None, during: None, point: None, repeat: None, ..i.clone() };
        assert_eq!(bare.describe(), "at 2026-12-01T20:00:00Z");
        let back: Interruption = serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
        assert_eq!(back, i);
        // A file written before the field existed still loads.
        let mut r = run(&[("axum", "measured")]);
        let mut v = serde_json::to_value(&r).unwrap();
        v.as_object_mut().unwrap().remove("interrupted");
        r = serde_json::from_value(v).unwrap();
        assert!(r.interrupted.is_none());
    }
}
