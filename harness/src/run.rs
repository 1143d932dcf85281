//! The plan: for each target, build → spawn pinned → readiness → verify → points → stop,
//! writing results.json after every point. A target that fails any step before measuring is
//! recorded as skipped with the reason, and the run moves on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};
use crate::manifest::Manifest;
use crate::profile::Profile;
use crate::results::{
    self, Failure, Latency, Point, PointSummary, Repeat, Results, SignedPercentiles, StreamRepeat, StreamSummary,
    TargetResult, Verification,
};
use crate::sampler::Sampler;
use crate::stats;
use crate::target::{self, Running};

/// Flag: the harness used more than this share of its CPUs.
pub const CLIENT_BOUND_SHARE: f64 = 0.85;
/// A request not answered within this is a `timeout` error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Health,
    Predict,
    Generate,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Health => "health",
            Workload::Predict => "predict",
            Workload::Generate => "generate",
        }
    }
}

#[derive(Debug, Clone)]
pub enum TargetSource {
    Manifest(Manifest),
    /// An already-running service: verified, then measured; never built or spawned.
    Url {
        name: String,
        base_url: String,
    },
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub root: PathBuf,
    pub targets: Vec<TargetSource>,
    pub workloads: Vec<Workload>,
    pub profile: Profile,
    pub out_dir: PathBuf,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    /// Defaults to the number of server CPUs.
    pub workers: Option<usize>,
    pub build: bool,
    pub ready_timeout: Duration,
    /// Print progress to stderr.
    pub progress: bool,
}

/// Runs the whole plan; returns the final results (also in `out_dir/results.json`).
pub fn execute(cfg: &RunConfig) -> anyhow::Result<Results> {
    std::fs::create_dir_all(&cfg.out_dir).with_context(|| format!("cannot create {}", cfg.out_dir.display()))?;
    let (nofile, nofile_warning) = target::raise_nofile();
    target::pin_current_thread(&cfg.client_cpus)?;
    // Runtime threads inherit the client pinning from this thread. With one client CPU the
    // driver runs on this (pinned) thread: a current-thread runtime skips the work-stealing
    // machinery that a single worker cannot use.
    let rt = if cfg.client_cpus.len() <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(cfg.client_cpus.len()).enable_all().build()?
    };
    let workers = cfg.workers.unwrap_or(cfg.server_cpus.len().max(1));
    let mut env = crate::env::capture(&cfg.root);
    env.server_cpus = cfg.server_cpus.clone();
    env.client_cpus = cfg.client_cpus.clone();
    env.client_affinity = target::affinity(0);
    env.workers = workers;
    env.nofile_limit = nofile;
    env.warnings.extend(nofile_warning);
    if env.harness_build == "debug" {
        env.warnings.push("the harness is a debug build: its numbers are not comparable with release runs".into());
    }
    let mut results = Results {
        schema_version: results::SCHEMA_VERSION,
        run_id: cfg.out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        started_at: crate::env::now_rfc3339(),
        finished_at: None,
        profile: serde_json::to_value(&cfg.profile)?,
        environment: env,
        targets: Vec::new(),
    };
    let save = |r: &Results| results::write_atomic(&cfg.out_dir, r).context("cannot write results.json");
    save(&results)?;

    let mut built: Vec<String> = Vec::new();
    for source in &cfg.targets {
        let mut tr = describe(source, &cfg.root, workers);
        tr.status = "running".into();
        results.targets.push(tr);
        let idx = results.targets.len() - 1;
        save(&results)?;
        let outcome = run_target(cfg, source, workers, &rt, &mut built, &mut results, idx, &save);
        let tr = &mut results.targets[idx];
        match outcome {
            Ok(()) => tr.status = "measured".into(),
            Err(reason) => {
                if cfg.progress {
                    eprintln!("{}: skipped: {reason:#}", tr.name);
                }
                tr.status = "skipped".into();
                tr.skip_reason = Some(format!("{reason:#}"));
            }
        }
        save(&results)?;
    }
    results.finished_at = Some(crate::env::now_rfc3339());
    save(&results)?;
    Ok(results)
}

fn describe(source: &TargetSource, root: &Path, workers: usize) -> TargetResult {
    match source {
        TargetSource::Manifest(m) => TargetResult {
            name: m.name.clone(),
            language: m.language.clone(),
            display_name: m.display_name.clone(),
            framework_version: if m.language == "rust" {
                crate::env::locked_version(root, &m.framework_crate).unwrap_or_else(|| m.framework_version.clone())
            } else {
                m.framework_version.clone()
            },
            server_setup: m.server_setup.replace("{workers}", &workers.to_string()),
            ..TargetResult::default()
        },
        TargetSource::Url { name, base_url } => TargetResult {
            name: name.clone(),
            language: "unknown".into(),
            display_name: name.clone(),
            framework_version: "unknown".into(),
            server_setup: format!("already running at {base_url}; not spawned or pinned by the harness"),
            ..TargetResult::default()
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn run_target(
    cfg: &RunConfig,
    source: &TargetSource,
    workers: usize,
    rt: &tokio::runtime::Runtime,
    built: &mut Vec<String>,
    results: &mut Results,
    idx: usize,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // Keep `running` alive until the end of this function: dropping it stops the target.
    let (base_url, running): (String, Option<Running>) = match source {
        TargetSource::Manifest(m) => {
            if cfg.build && !built.contains(&m.build) {
                if cfg.progress {
                    eprintln!("{}: building: {}", m.name, m.build);
                }
                target::build(m, &cfg.root, &cfg.out_dir.join(format!("{}.build.log", m.name)))?;
                built.push(m.build.clone());
            }
            let r = target::spawn(
                m,
                &cfg.root,
                workers,
                &cfg.server_cpus,
                &cfg.client_cpus,
                &cfg.out_dir,
                cfg.ready_timeout,
            )?;
            (r.base_url.clone(), Some(r))
        }
        TargetSource::Url { base_url, .. } => (base_url.trim_end_matches('/').to_owned(), None),
    };
    let pid = running.as_ref().map(|r| r.pid);
    {
        let tr = &mut results.targets[idx];
        if let Some(r) = &running {
            tr.startup_ms = Some(r.startup.as_secs_f64() * 1e3);
            tr.server_affinity = r.server_affinity.clone();
            // Idle: after readiness, before any load.
            std::thread::sleep(Duration::from_millis(200));
            tr.idle_rss_bytes =
                Some(crate::sampler::process_tree(r.pid).iter().filter_map(|&p| crate::sampler::rss_bytes(p)).sum());
        }
    }

    // Verification: a target that fails gets no numbers.
    let cases = workloads::conformance::corpus();
    let report = rt.block_on(workloads::conformance::http::run_corpus(&base_url, &cases))?;
    let verification = Verification {
        passed: report.failed.is_empty(),
        cases: cases.len(),
        failures: report
            .failed
            .iter()
            .map(|(case, reasons)| Failure { case: case.clone(), reasons: reasons.clone() })
            .collect(),
    };
    let passed = verification.passed;
    let failed = verification.failures.len();
    results.targets[idx].verification = Some(verification);
    save(results)?;
    anyhow::ensure!(passed, "failed verification: {failed} of {} conformance cases", cases.len());
    if cfg.progress {
        eprintln!("{}: verified ({} cases)", results.targets[idx].name, cases.len());
    }

    let sampler = Sampler::start(pid);
    let p = &cfg.profile;
    let mut predict_max: Option<f64> = None;
    for &w in &cfg.workloads {
        let payloads = match w {
            Workload::Health => PayloadSet::health(),
            Workload::Predict => PayloadSet::predict(0x5EED),
            Workload::Generate => PayloadSet::generate(p.generate_max_tokens, p.generate_token_delay_ms),
        };
        let conns = match w {
            Workload::Health => &p.health_connections,
            Workload::Predict => &p.predict_connections,
            Workload::Generate => &p.generate_streams,
        };
        for &c in conns {
            let point = measure(cfg, rt, &sampler, &base_url, &payloads, Mode::Closed { connections: c }, None)?;
            if w == Workload::Predict {
                predict_max = Some(predict_max.unwrap_or(0.0).max(point.summary.throughput_rps.median));
            }
            push_point(cfg, results, idx, point, save)?;
        }
        if w == Workload::Predict {
            let max = predict_max.context("no closed-loop predict point to take the maximum from")?;
            let rates = p
                .open_fractions
                .iter()
                .map(|f| (f * max, format!("{f} x max ({max:.0} req/s)")))
                .chain(p.open_absolute_rps.iter().map(|&r| (r, "absolute".to_owned())));
            for (rate, basis) in rates {
                let mode = Mode::Open {
                    rate_rps: rate,
                    arrival: Arrival::Poisson { seed: 0x5EED },
                    max_connections: p.open_max_connections,
                };
                let point = measure(cfg, rt, &sampler, &base_url, &payloads, mode, Some(basis))?;
                push_point(cfg, results, idx, point, save)?;
            }
        }
    }
    drop(sampler);
    if let Some(mut r) = running {
        results.targets[idx].shutdown = Some(r.stop());
    }
    Ok(())
}

fn push_point(
    cfg: &RunConfig,
    results: &mut Results,
    idx: usize,
    point: Point,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if cfg.progress {
        let s = &point.summary;
        eprintln!(
            "{}: {} {} c={}{}: {:.0} req/s [{:.0}–{:.0}], p50 {} µs, p99 {} µs{}",
            results.targets[idx].name,
            point.workload,
            point.mode,
            point.connections,
            point.rate_rps.map(|r| format!(" rate={r:.0}")).unwrap_or_default(),
            s.throughput_rps.median,
            s.throughput_rps.min,
            s.throughput_rps.max,
            s.latency_us.p50,
            s.latency_us.p99,
            if s.flags.is_empty() { String::new() } else { format!(" [{}]", s.flags.join(",")) }
        );
    }
    results.targets[idx].points.push(point);
    save(results)
}

/// One point: `repeats` measured windows, each after its own warm-up.
fn measure(
    cfg: &RunConfig,
    rt: &tokio::runtime::Runtime,
    sampler: &Sampler,
    base_url: &str,
    payloads: &PayloadSet,
    mode: Mode,
    rate_basis: Option<String>,
) -> anyhow::Result<Point> {
    let p = &cfg.profile;
    let mut repeats = Vec::with_capacity(p.repeats);
    let mut merged = driver::Recorder::default().latency_us;
    let mut merged_stream: Option<driver::StreamRecorder> = None;
    // Streams last max_tokens × token_delay_ms: warm up for at least one stream and measure
    // for at least two, so the window sees steady state.
    let stream_len = payloads
        .entries
        .first()
        .and_then(|e| e.stream.as_ref())
        .map_or(Duration::ZERO, |s| Duration::from_millis(s.token_delay_ms * s.words.len() as u64));
    let (warmup, duration) = (p.warmup.max(stream_len), p.duration.max(2 * stream_len));
    for _ in 0..p.repeats {
        let spec = LoadSpec { mode, warmup, stop: Stop::Duration(duration), request_timeout: REQUEST_TIMEOUT };
        let r = rt.block_on(driver::run(base_url, payloads.clone(), spec))?;
        let ws = sampler.window(r.window_start, r.window_end, cfg.client_cpus.len());
        let throughput = r.throughput_rps();
        merged.add(&r.recorded.latency_us).expect("same histogram bounds");
        repeats.push(Repeat {
            throughput_rps: throughput,
            responses: r.recorded.responses(),
            window_s: r.window().as_secs_f64(),
            latency_us: Latency::of(&r.recorded.latency_us),
            cpu_us_per_request: ws.server_cpu_rate.filter(|_| throughput > 0.0).map(|rate| rate * 1e6 / throughput),
            rss_peak_bytes: ws.rss_peak_bytes,
            rss_mean_bytes: ws.rss_mean_bytes,
            client_cpu_share: ws.client_cpu_share,
            statuses: r.recorded.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors: r.recorded.errors.clone(),
            scheduled: r.scheduled,
            dropped: r.dropped,
            bodies_checked: r.recorded.bodies_checked,
            connections_opened: r.connections_opened,
            mismatches: r.recorded.mismatches.clone(),
            streaming: r.recorded.stream.as_ref().map(|s| StreamRepeat {
                streams_complete: s.streams_complete,
                streams_incomplete: s.streams_incomplete,
                tokens: s.tokens,
                tokens_per_s: s.tokens as f64 / r.window().as_secs_f64().max(1e-9),
                ttft_us: Latency::of(&s.ttft_us),
                itl_us: Latency::of(&s.itl_us),
                tpot_us: Latency::of(&s.tpot_us),
            }),
        });
        if let Some(s) = &r.recorded.stream {
            merged_stream.get_or_insert_with(driver::StreamRecorder::default).merge_from(s);
        }
    }
    let delay = payloads.entries.first().and_then(|e| e.stream.as_ref()).map_or(0, |s| s.token_delay_ms);
    let mut point = summarize(payloads, mode, rate_basis, repeats, &merged);
    point.summary.streaming = merged_stream.map(|s| stream_summary(&s, delay, &point.repeats));
    Ok(point)
}

fn stream_summary(s: &driver::StreamRecorder, delay_ms: u64, repeats: &[Repeat]) -> StreamSummary {
    let shift = |l: Latency| {
        let d = delay_ms as f64 * 1e3;
        SignedPercentiles { p50: l.p50 as f64 - d, p99: l.p99 as f64 - d, p999: l.p999 as f64 - d }
    };
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
        tokens_per_s: stats::summarize(&tps).map_or(0.0, |x| x.median),
        streams_correct_share: if streams == 0 { 0.0 } else { s.streams_complete as f64 / streams as f64 },
    }
}

fn summarize(
    payloads: &PayloadSet,
    mode: Mode,
    rate_basis: Option<String>,
    repeats: Vec<Repeat>,
    merged: &hdrhistogram::Histogram<u64>,
) -> Point {
    let tput: Vec<f64> = repeats.iter().map(|r| r.throughput_rps).collect();
    let throughput = stats::summarize(&tput).unwrap_or(stats::Summary {
        n: 0,
        median: 0.0,
        min: 0.0,
        max: 0.0,
        mean: 0.0,
        ci95_low: 0.0,
        ci95_high: 0.0,
        cv: 0.0,
    });
    let median_of = |v: Vec<f64>| stats::summarize(&v).map(|s| s.median);
    let cpu = median_of(repeats.iter().filter_map(|r| r.cpu_us_per_request).collect());
    let client_share = median_of(repeats.iter().map(|r| r.client_cpu_share).collect()).unwrap_or(0.0);
    let errors: u64 = repeats.iter().map(|r| r.errors.total()).sum();
    let dropped: u64 = repeats.iter().map(|r| r.dropped).sum();
    let mut flags = Vec::new();
    if throughput.is_noisy() {
        flags.push("noisy".to_owned());
    }
    if repeats.iter().any(|r| r.client_cpu_share > CLIENT_BOUND_SHARE) {
        flags.push("client_bound".to_owned());
    }
    if errors > 0 {
        flags.push("errors".to_owned());
    }
    if dropped > 0 {
        flags.push("dropped".to_owned());
    }
    if repeats.len() < 2 {
        flags.push("single_run".to_owned());
    }
    let (mode_name, connections, rate, arrival) = match mode {
        Mode::Closed { connections } => ("closed", connections, None, None),
        Mode::Open { rate_rps, arrival, max_connections } => (
            "open",
            max_connections,
            Some(rate_rps),
            Some(match arrival {
                Arrival::Constant => "constant".to_owned(),
                Arrival::Poisson { .. } => "poisson".to_owned(),
            }),
        ),
    };
    Point {
        workload: payloads.name.clone(),
        mode: mode_name.into(),
        connections,
        rate_rps: rate,
        rate_basis,
        arrival,
        summary: PointSummary {
            throughput_rps: throughput.into(),
            latency_us: Latency::of(merged),
            cpu_us_per_request: cpu,
            rss_peak_bytes: repeats.iter().filter_map(|r| r.rss_peak_bytes).max(),
            client_cpu_share: client_share,
            errors,
            dropped,
            flags,
            streaming: None,
        },
        repeats,
    }
}
