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
    Failure, Fit, InflightSummary, Latency, MemoryFits, Point, PointSummary, ProbeSummary, Repeat, Results,
    SignedPercentiles, StreamRepeat, StreamSummary, TargetResult, Verification,
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
    InferIo,
    InferCpu,
    Mixed,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Health => "health",
            Workload::Predict => "predict",
            Workload::Generate => "generate",
            Workload::InferIo => "infer-io",
            Workload::InferCpu => "infer-cpu",
            Workload::Mixed => "mixed",
        }
    }

    pub const ALL: [Workload; 6] = [
        Workload::Health,
        Workload::Predict,
        Workload::Generate,
        Workload::InferIo,
        Workload::InferCpu,
        Workload::Mixed,
    ];
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
    /// How long a target may take to exit after SIGTERM before SIGKILL (`--stop-timeout`).
    pub stop_timeout: Duration,
    /// After verification, measure robustness (`--hostile`; docs/metrics.md, "Robustness").
    pub hostile: bool,
    /// Print progress to stderr.
    pub progress: bool,
    /// `work` for infer-cpu, calibrated once per run (`probe::calibrate`); filled by
    /// `execute` when the plan includes infer-cpu and it is not set.
    pub cpu_work: Option<u64>,
}

/// Runs the whole plan; returns the final results (also in `out_dir/results.json`).
pub fn execute(cfg: &RunConfig) -> anyhow::Result<Results> {
    let mut cfg = cfg.clone();
    let mut calibration = None;
    if cfg.workloads.contains(&Workload::InferCpu) && cfg.cpu_work.is_none() {
        let c = crate::probe::calibrate(&cfg.server_cpus, cfg.profile.cpu_target_ms)?;
        if cfg.progress {
            crate::errln!(
                "infer-cpu: work = {} ({:.3} ms per 1000 passes on CPU {:?}; target {} ms per request)",
                c.work,
                c.ms_per_1000,
                cfg.server_cpus,
                cfg.profile.cpu_target_ms
            );
        }
        cfg.cpu_work = Some(c.work);
        calibration = Some(c);
    }
    let cfg = &cfg;
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
    env.cpu_work = cfg.cpu_work;
    env.cpu_work_ms_per_1000 = calibration.map(|c| c.ms_per_1000);
    env.warnings.extend(nofile_warning);
    if env.harness_build == "debug" {
        env.warnings.push("the harness is a debug build: its numbers are not comparable with release runs".into());
    }
    let mut results = Results::begin(&cfg.out_dir, serde_json::to_value(&cfg.profile)?, env);
    // Through the interrupt module: on a signal it records the interruption in what was saved.
    let save = |r: &Results| crate::interrupt::save(&cfg.out_dir, r).context("cannot write results.json");
    crate::interrupt::set_grace(cfg.stop_timeout);
    save(&results)?;

    let progress = crate::progress::Progress::new(cfg.progress, cfg.targets.len());
    let mut built: Vec<String> = Vec::new();
    for source in &cfg.targets {
        let mut tr = describe(source, &cfg.root, workers);
        tr.status = "running".into();
        results.targets.push(tr);
        let idx = results.targets.len() - 1;
        crate::interrupt::at_target(&results.targets[idx].name);
        save(&results)?;
        // The server now up lives here, not in `run_target`: on a signal the interruption is
        // recorded before the server is stopped (its grace may be long).
        let mut live: Option<Instance> = None;
        let outcome = run_target(cfg, &progress, source, workers, &rt, &mut built, &mut results, idx, &save, &mut live);
        if crate::interrupt::claim() {
            return record_interruption(results, &save, &progress, live);
        }
        drop(live);
        let tr = &mut results.targets[idx];
        match outcome {
            Ok(()) => tr.status = "measured".into(),
            Err(reason) => {
                // Points measured before a failure are kept; the target is `failed`, not
                // `skipped`, so that nobody reads its partial numbers as a full run.
                tr.status = if tr.points.is_empty() { "skipped" } else { "failed" }.into();
                progress.line(&format!("{}: {}: {reason:#}", tr.name, tr.status));
                tr.skip_reason = Some(format!("{reason:#}"));
            }
        }
        save(&results)?;
        progress.target_done();
    }
    if crate::interrupt::claim() {
        return record_interruption(results, &save, &progress, None);
    }
    progress.finish();
    results.finished_at = Some(crate::env::now_rfc3339());
    save(&results)?;
    Ok(results)
}

/// A signal came: the target it found is `interrupted` (its completed points kept), the
/// run is marked, results.json written; only then is the server stopped. The caller exits 130.
fn record_interruption(
    mut results: Results,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
    progress: &crate::progress::Progress,
    live: Option<Instance>,
) -> anyhow::Result<Results> {
    let i = crate::interrupt::interruption("harness").context("interrupted, but no signal was recorded")?;
    results.mark_interrupted(&i);
    let saved = save(&results);
    drop(live);
    progress.line(&format!(
        "harness: interrupted{}{}{}; results.json records it",
        i.target.as_deref().map(|t| format!(" at {t}")).unwrap_or_default(),
        i.during.as_deref().map(|d| format!(", {d}")).unwrap_or_default(),
        i.point.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
    ));
    progress.finish();
    saved?;
    Ok(results)
}

/// The descriptive fields of a target's entry in results.json.
pub fn describe(source: &TargetSource, root: &Path, workers: usize) -> TargetResult {
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

/// How a target is reached: a manifest we spawn (fresh per workload), or a running URL.
struct Instance {
    base_url: String,
    /// Dropping it stops the server.
    running: Option<Running>,
}

impl Instance {
    fn pid(&self) -> Option<i32> {
        self.running.as_ref().map(|r| r.pid)
    }

    /// RSS of the server's process tree, summed (all worker processes of a multi-process server).
    fn rss(&self) -> Option<u64> {
        let pid = self.pid()?;
        Some(crate::sampler::process_tree(pid).iter().filter_map(|&p| crate::sampler::rss_bytes(p)).sum())
    }
}

/// Starts `m` (pinned) and records its startup time in `cost`.
fn start(cfg: &RunConfig, m: &Manifest, workers: usize, cost: &mut crate::results::Cost) -> anyhow::Result<Instance> {
    let mut r =
        target::spawn(m, &cfg.root, workers, &cfg.server_cpus, &cfg.client_cpus, &cfg.out_dir, cfg.ready_timeout)?;
    r.stop_timeout = cfg.stop_timeout;
    cost.startup_runs_ms.push(r.startup.as_secs_f64() * 1e3);
    cost.startup_ms_median = stats::summarize(&cost.startup_runs_ms).map(|s| s.median);
    Ok(Instance { base_url: r.base_url.clone(), running: Some(r) })
}

/// Idle RSS: after readiness, before any load (the allocator has not yet grown for load).
fn idle_rss(i: &Instance) -> Option<u64> {
    i.pid()?;
    std::thread::sleep(Duration::from_millis(200));
    i.rss()
}

#[allow(clippy::too_many_arguments)]
fn run_target(
    cfg: &RunConfig,
    progress: &crate::progress::Progress,
    source: &TargetSource,
    workers: usize,
    rt: &tokio::runtime::Runtime,
    built: &mut Vec<String>,
    results: &mut Results,
    idx: usize,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
    live: &mut Option<Instance>,
) -> anyhow::Result<()> {
    let manifest = match source {
        TargetSource::Manifest(m) => Some(m),
        TargetSource::Url { .. } => None,
    };
    let mut cost = crate::results::Cost::default();
    if let Some(m) = manifest {
        if cfg.build && !built.contains(&m.build) {
            crate::interrupt::at_step("building", None);
            progress.line(&format!("{}: building: {}", m.name, m.build));
            let log = cfg.out_dir.join(format!("{}.build.log", m.name));
            target::build(m, &cfg.root, &log)?;
            built.push(m.build.clone());
            if let Some(pkg) = crate::cost::cargo_package(m) {
                match crate::cost::own_package_build(m, &cfg.root, &pkg, &log) {
                    Ok(secs) => {
                        cost.build_s = Some(secs);
                        cost.build_kind = Some("incremental".into());
                    }
                    Err(e) => crate::errln!("{}: own-package build time not measured: {e:#}", m.name),
                }
            }
        }
        measure_static_cost(m, &cfg.root, &mut cost);
    }
    let open = |cost: &mut crate::results::Cost| -> anyhow::Result<Instance> {
        match source {
            TargetSource::Manifest(m) => start(cfg, m, workers, cost),
            TargetSource::Url { base_url, .. } => {
                Ok(Instance { base_url: base_url.trim_end_matches('/').to_owned(), running: None })
            }
        }
    };

    // The first instance: startup, idle RSS, then verification. A target that fails
    // verification gets no numbers.
    crate::interrupt::at_step("starting", None);
    let instance = live.insert(open(&mut cost)?);
    {
        let tr = &mut results.targets[idx];
        if let Some(r) = &instance.running {
            tr.startup_ms = Some(r.startup.as_secs_f64() * 1e3);
            tr.server_affinity = r.server_affinity.clone();
        }
        tr.idle_rss_bytes = idle_rss(instance);
        cost.idle_rss_bytes = tr.idle_rss_bytes;
        if manifest.is_some() {
            tr.cost = Some(cost.clone());
        }
    }
    save(results)?;
    let cases = workloads::conformance::corpus();
    crate::interrupt::at_step("verifying", None);
    let corpus = workloads::conformance::http::run_corpus(&instance.base_url, &cases);
    let report = rt.block_on(crate::interrupt::unless_signalled(corpus))?;
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
    if let Some(r) = instance.running.as_mut() {
        r.check_alive()?;
    }
    anyhow::ensure!(passed, "failed verification: {failed} of {} conformance cases", cases.len());
    progress.line(&format!("{}: verified ({} cases)", results.targets[idx].name, cases.len()));
    if cfg.hostile {
        crate::interrupt::at_step("robustness", None);
        // On the verification instance: every workload below starts a fresh server anyway.
        let (pid, log) = instance.running.as_ref().map(|r| (r.pid, r.stderr_log.clone())).unzip();
        let r = crate::hostile::measure(&instance.base_url, pid, log.as_deref(), &crate::hostile::Options::default())?;
        let mut findings = r.verdict();
        findings.extend(r.slow_client_findings());
        let summary = if findings.is_empty() { "robust".to_owned() } else { findings.join("; ") };
        progress.line(&format!("{}: hostile corpus {}/{}: {summary}", results.targets[idx].name, r.passed, r.cases));
        results.targets[idx].robustness = Some(r);
        save(results)?;
        if let Some(r) = instance.running.as_mut() {
            r.check_alive()?;
        }
    }

    // Every workload runs on a freshly started server, so that its memory figures do not
    // depend on what ran before (an allocator keeps what earlier loads grew; verification
    // alone sends 1 MiB bodies). Spawned targets are restarted; a --url target cannot be.
    let mut idle_by_workload: Vec<(&str, Option<u64>)> = Vec::new();
    for &w in &cfg.workloads {
        if manifest.is_some() {
            if let Some(mut r) = live.take().and_then(|i| i.running) {
                crate::interrupt::at_step("stopping", None);
                r.stop();
            }
            crate::interrupt::at_step("starting", None);
            *live = Some(open(&mut cost)?);
        }
        let instance = live.as_mut().expect("an instance is up");
        let idle = if manifest.is_some() { idle_rss(instance) } else { None };
        idle_by_workload.push((w.name(), idle));
        let sampler = Sampler::start(instance.pid());
        let ctx = Ctx { cfg, progress, rt, sampler: &sampler, base_url: &instance.base_url };
        let outcome = match w {
            Workload::Health | Workload::Predict | Workload::Generate => throughput_points(&ctx, w, results, idx, save),
            Workload::InferIo => inflight_points(&ctx, results, idx, save),
            Workload::InferCpu => probe_points(&ctx, results, idx, save),
            Workload::Mixed => {
                crate::interrupt::at_step("measuring", Some(w.name().to_owned()));
                crate::mixed::run(cfg, rt, &sampler, &instance.base_url, &results.targets[idx].name)
                    .and_then(|point| push_point(progress, results, idx, point, save))
            }
        };
        // A server that died is the reason, whatever error its absence caused.
        if let Some(r) = instance.running.as_mut() {
            r.check_alive()?;
        }
        outcome?;
    }
    // Cold starts until there are enough for the median.
    if let Some(m) = manifest {
        crate::interrupt::at_step("startup runs", None);
        while cost.startup_runs_ms.len() < cfg.profile.startup_runs {
            let mut extra = start(cfg, m, workers, &mut cost)?;
            if let Some(mut r) = extra.running.take() {
                r.stop();
            }
        }
        results.targets[idx].cost = Some(cost);
    }
    let idle_of = |w: &str| idle_by_workload.iter().find(|(n, _)| *n == w).and_then(|(_, b)| *b);
    results.targets[idx].memory = memory_fits(&results.targets[idx].points, idle_of("generate"), idle_of("infer-io"));
    if let Some(mut r) = live.take().and_then(|i| i.running) {
        results.targets[idx].shutdown = Some(r.stop());
    }
    save(results)?;
    Ok(())
}

/// Binary size, dependency count and lines of code: read off the workspace, not measured.
fn measure_static_cost(m: &Manifest, root: &Path, cost: &mut crate::results::Cost) {
    cost.loc = Some(crate::cost::lines_of_code(&m.dir, &m.language));
    if crate::python::is_python(m) {
        cost.venv_bytes = crate::python::venv_size_bytes(root);
        cost.dependency_count = crate::python::installed_distributions(root);
        cost.dependency_kind = cost.dependency_count.map(|_| "python packages".into());
    }
    if m.language == "rust" {
        cost.binary_bytes = crate::cost::binary_bytes(m, root);
        if let Some(pkg) = crate::cost::cargo_package(m) {
            match crate::cost::crate_count(root, &pkg) {
                Ok(n) => {
                    cost.dependency_count = Some(n);
                    cost.dependency_kind = Some("crates".into());
                }
                Err(e) => crate::errln!("{}: dependency count not measured: {e:#}", m.name),
            }
        }
    }
}

/// What every point of one target shares.
struct Ctx<'a> {
    cfg: &'a RunConfig,
    progress: &'a crate::progress::Progress,
    rt: &'a tokio::runtime::Runtime,
    sampler: &'a Sampler,
    base_url: &'a str,
}

/// health, predict and generate: closed-loop points, then predict's open-loop points (at
/// fractions of its closed-loop maximum and at absolute rates) and generate's optional
/// open-loop stream arrivals.
fn throughput_points(
    ctx: &Ctx,
    w: Workload,
    results: &mut Results,
    idx: usize,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let p = &ctx.cfg.profile;
    let (payloads, conns) = match w {
        Workload::Health => (PayloadSet::health(), &p.health_connections),
        Workload::Predict => (PayloadSet::predict(0x5EED), &p.predict_connections),
        _ => (PayloadSet::generate(p.generate_max_tokens, p.generate_token_delay_ms), &p.generate_streams),
    };
    let mut max: Option<f64> = None;
    for &c in conns {
        let m = measure(ctx, &payloads, Mode::Closed { connections: c }, None, None)?;
        max = Some(max.unwrap_or(0.0).max(m.point.summary.throughput_rps.median));
        push_point(ctx.progress, results, idx, m.point, save)?;
    }
    let mut rates: Vec<(f64, String)> = Vec::new();
    if w == Workload::Predict {
        let max = max.context("no closed-loop predict point to take the maximum from")?;
        rates.extend(p.open_fractions.iter().map(|f| (f * max, format!("{f} x max ({max:.0} req/s)"))));
        rates.extend(p.open_absolute_rps.iter().map(|&r| (r, "absolute".to_owned())));
    }
    if w == Workload::Generate {
        rates.extend(p.generate_arrival_rps.map(|r| (r, "stream arrivals".to_owned())));
    }
    for (rate, basis) in rates {
        let mode = Mode::Open {
            rate_rps: rate,
            arrival: Arrival::Poisson { seed: 0x5EED },
            max_connections: p.open_max_connections,
        };
        let m = measure(ctx, &payloads, mode, Some(basis), None)?;
        push_point(ctx.progress, results, idx, m.point, save)?;
    }
    Ok(())
}

/// infer-io: closed loop at each in-flight level (one request in flight per connection).
fn inflight_points(
    ctx: &Ctx,
    results: &mut Results,
    idx: usize,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let p = &ctx.cfg.profile;
    let payloads = PayloadSet::infer_io(p.inflight_latency_ms);
    for &c in &p.inflight_connections {
        let mut m = measure(ctx, &payloads, Mode::Closed { connections: c }, None, None)?;
        let ideal = c as f64 / (p.inflight_latency_ms as f64 / 1e3).max(1e-9);
        m.point.summary.inflight = Some(InflightSummary {
            latency_ms: p.inflight_latency_ms,
            ideal_rps: ideal,
            efficiency_pct: 100.0 * m.point.summary.throughput_rps.median / ideal,
            overhead_us: minus_ms(m.point.summary.latency_us, p.inflight_latency_ms),
        });
        push_point(ctx.progress, results, idx, m.point, save)?;
    }
    Ok(())
}

/// infer-cpu: the probe's idle baseline, then each concurrency level with the probe beside it.
fn probe_points(
    ctx: &Ctx,
    results: &mut Results,
    idx: usize,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let p = &ctx.cfg.profile;
    let work = ctx.cfg.cpu_work.context("infer-cpu needs a calibrated `work` (RunConfig::cpu_work)")?;
    let mut idle = driver::Recorder::default().latency_us;
    crate::interrupt::at_step("measuring", Some("infer-cpu probe idle baseline".into()));
    for i in 0..p.repeats {
        crate::interrupt::at_repeat(i + 1, p.repeats);
        let spec = crate::probe::probe_spec(p.probe_rps, p.warmup, p.duration, REQUEST_TIMEOUT);
        let r = ctx.rt.block_on(driver::run(ctx.base_url, PayloadSet::health(), spec))?;
        idle.add(&r.recorded.latency_us).expect("same histogram bounds");
    }
    let payloads = PayloadSet::infer_cpu(work);
    for &c in &p.cpu_concurrency {
        let mut m = measure(ctx, &payloads, Mode::Closed { connections: c }, None, Some(p.probe_rps))?;
        let probe = m.probe.take().expect("a probe ran");
        m.point.summary.probe = Some(ProbeSummary {
            work,
            rate_rps: p.probe_rps,
            loaded_us: Latency::of(&probe.latency_us),
            idle_us: Latency::of(&idle),
            probe_requests: probe.responses(),
            probe_errors: probe.errors.total(),
        });
        if probe.errors.total() > 0 && !m.point.summary.flags.iter().any(|f| f == "errors") {
            m.point.summary.flags.push("errors".into());
        }
        push_point(ctx.progress, results, idx, m.point, save)?;
    }
    Ok(())
}

/// Bytes per open stream and per in-flight request: the slope of mean RSS over concurrency,
/// with the fresh server's idle RSS at 0.
fn memory_fits(points: &[Point], idle_generate: Option<u64>, idle_inflight: Option<u64>) -> Option<MemoryFits> {
    let fit = |workload: &str, idle: Option<u64>| -> Option<Fit> {
        let levels: Vec<(usize, u64)> = points
            .iter()
            .filter(|pt| pt.workload == workload && pt.mode == "closed")
            .filter_map(|pt| Some((pt.connections, pt.summary.rss_mean_bytes?)))
            .collect();
        rss_fit(idle, &levels)
    };
    let fits = MemoryFits {
        bytes_per_open_stream: fit("generate", idle_generate),
        bytes_per_inflight_request: fit("infer-io", idle_inflight),
    };
    (fits.bytes_per_open_stream.is_some() || fits.bytes_per_inflight_request.is_some()).then_some(fits)
}

/// The least-squares line of mean RSS over concurrency, through (0, idle) when known and
/// (C, RSS) for each level (docs/metrics.md, "Memory fits"); `None` without a level.
pub fn rss_fit(idle: Option<u64>, levels: &[(usize, u64)]) -> Option<Fit> {
    if levels.is_empty() {
        return None;
    }
    let mut pts: Vec<[f64; 2]> = idle.map(|b| vec![[0.0, b as f64]]).unwrap_or_default();
    pts.extend(levels.iter().map(|&(c, b)| [c as f64, b as f64]));
    let line = stats::linear_fit(&pts.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>())?;
    Some(Fit { slope_bytes: line.slope, intercept_bytes: line.intercept, r2: line.r2, points: pts })
}

fn push_point(
    progress: &crate::progress::Progress,
    results: &mut Results,
    idx: usize,
    point: Point,
    save: &dyn Fn(&Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    {
        let s = &point.summary;
        let at = format!(
            "{} {} c={}{}",
            point.workload,
            point.mode,
            point.connections,
            point.rate_rps.map(|r| format!(" rate={r:.0}")).unwrap_or_default()
        );
        progress.point(&results.targets[idx].name, &at, s.throughput_rps.median, s.errors);
        progress.line(&format!(
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
        ));
    }
    results.targets[idx].points.push(point);
    save(results)
}

/// A measured point, and the probe's merged recorder when a probe ran beside it.
struct Measured {
    point: Point,
    probe: Option<driver::Recorder>,
}

/// One point: `repeats` measured windows, each after its own warm-up; with `probe_rps`, the
/// `/health` probe runs beside the load in every window.
fn measure(
    ctx: &Ctx,
    payloads: &PayloadSet,
    mode: Mode,
    rate_basis: Option<String>,
    probe_rps: Option<f64>,
) -> anyhow::Result<Measured> {
    let (cfg, rt, sampler, base_url) = (ctx.cfg, ctx.rt, ctx.sampler, ctx.base_url);
    let p = &cfg.profile;
    let mut repeats = Vec::with_capacity(p.repeats);
    let mut merged = driver::Recorder::default().latency_us;
    let mut merged_stream: Option<driver::StreamRecorder> = None;
    let mut probe: Option<driver::Recorder> = None;
    // An exchange lasts at least `exchange_floor` (a stream's token delays, an io request's
    // latency): warm up for at least one and measure for at least two, so the window sees
    // steady state.
    let floor = payloads.exchange_floor;
    let (warmup, duration) = (p.warmup.max(floor), p.duration.max(2 * floor));
    crate::interrupt::at_step("measuring", Some(point_label(&payloads.name, mode)));
    for i in 0..p.repeats {
        crate::interrupt::at_repeat(i + 1, p.repeats);
        let spec = LoadSpec { mode, warmup, stop: Stop::Duration(duration), request_timeout: REQUEST_TIMEOUT };
        let r = match probe_rps {
            None => rt.block_on(driver::run(base_url, payloads.clone(), spec))?,
            Some(rate) => {
                let (r, pr) = rt.block_on(crate::probe::run_with_probe(base_url, payloads.clone(), spec, rate))?;
                probe.get_or_insert_with(driver::Recorder::default).merge_from(&pr.recorded);
                r
            }
        };
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
    Ok(Measured { point, probe })
}

/// A point as progress lines and interruption records name it: `<workload> <mode>
/// c=<connections>[ rate=<req/s>]` (for an open-loop point, `c` is its pool bound).
fn point_label(workload: &str, mode: Mode) -> String {
    match mode {
        Mode::Closed { connections } => format!("{workload} closed c={connections}"),
        Mode::Open { rate_rps, max_connections, .. } => {
            format!("{workload} open c={max_connections} rate={rate_rps:.0}")
        }
    }
}

/// Latency percentiles minus a fixed time (a token delay, an io latency): what the target
/// adds on top. Percentiles commute with subtracting a constant, so these are exact.
fn minus_ms(l: Latency, ms: u64) -> SignedPercentiles {
    let d = ms as f64 * 1e3;
    SignedPercentiles { p50: l.p50 as f64 - d, p99: l.p99 as f64 - d, p999: l.p999 as f64 - d }
}

fn stream_summary(s: &driver::StreamRecorder, delay_ms: u64, repeats: &[Repeat]) -> StreamSummary {
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
            rss_mean_bytes: median_of(repeats.iter().filter_map(|r| r.rss_mean_bytes.map(|b| b as f64)).collect())
                .map(|b| b as u64),
            inflight: None,
            probe: None,
            mixed: None,
        },
        repeats,
    }
}
