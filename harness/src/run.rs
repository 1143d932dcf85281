//! The orchestrator: builds the plan (`plan`), then executes it: for each target, build →
//! spawn pinned → readiness → verify → each workload's steps on a fresh server → stop,
//! writing results.json after every point. A target that fails any step before measuring is
//! recorded as skipped with the reason, and the run moves on. What the figures mean is
//! computed in `analysis`; this module only runs things and records them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::analysis;
use crate::driver::{self, LoadSpec, Mode, PayloadSet, Stop};
use crate::manifest::Manifest;
use crate::plan::{
    PlannedMode, REQUEST_TIMEOUT, RunConfig, Step, TargetPlan, TargetSource, Window, WorkloadPlan, describe,
};
use crate::results::Workload;

pub use crate::analysis::CLIENT_BOUND_SHARE;
use crate::journal::Journal;
use crate::results::{Latency, Point, ProbeSummary, Repeat, Results, StreamRepeat, TargetStatus, Verification};
use crate::sampler::Sampler;
use crate::stats;
use crate::target::{self, Running};

/// Runs the whole plan; returns the final results (also in `out_dir/results.json`).
pub fn execute(cfg: &RunConfig) -> anyhow::Result<Results> {
    let plan = crate::plan::build(cfg);
    let mut cfg = cfg.clone();
    let calibration = calibrate(&mut cfg, plan.calibrate_cpu_ms)?;
    let cfg = &cfg;
    std::fs::create_dir_all(&cfg.out_dir).with_context(|| format!("cannot create {}", cfg.out_dir.display()))?;
    let (nofile, nofile_warning) = target::raise_nofile();
    target::pin_current_thread(&cfg.client_cpus)?;
    let rt = client_runtime(cfg)?;
    let workers = plan.workers;
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
    crate::interrupt::set_grace(cfg.stop_timeout);
    let mut journal = Journal::begin(&cfg.out_dir, serde_json::to_value(&cfg.profile)?, env)?;

    let progress = crate::progress::Progress::new(cfg.progress, cfg.targets.len());
    let mut built: Vec<String> = Vec::new();
    for (source, tplan) in cfg.targets.iter().zip(&plan.targets) {
        let mut tr = describe(source, &cfg.root, workers);
        tr.status = TargetStatus::Running;
        crate::interrupt::at_target(&tr.name);
        let idx = journal.add_target(tr)?;
        // The server now up lives here, not in `run_target`: on a signal the interruption is
        // recorded before the server is stopped (its grace may be long).
        let mut live: Option<Instance> = None;
        let target = TargetRun {
            cfg,
            progress: &progress,
            rt: &rt,
            source,
            plan: tplan,
            workers,
            journal: &mut journal,
            idx,
            cost: crate::results::Cost::default(),
            calibrate_work: plan.calibrate_cpu_ms.is_some(),
        };
        let outcome = target.run(&mut built, &mut live);
        if crate::interrupt::claim() {
            return record_interruption(journal, &progress, live);
        }
        drop(live);
        let tr = journal.target_mut(idx);
        match outcome {
            Ok(()) => tr.status = TargetStatus::Measured,
            Err(reason) => {
                // Points measured before a failure are kept; the target is `failed`, not
                // `skipped`, so that nobody reads its partial numbers as a full run.
                tr.status = if tr.points.is_empty() { TargetStatus::Skipped } else { TargetStatus::Failed };
                progress.line(&format!("{}: {}: {reason:#}", tr.name, tr.status));
                tr.skip_reason = Some(format!("{reason:#}"));
            }
        }
        journal.save()?;
        progress.target_done();
    }
    if crate::interrupt::claim() {
        return record_interruption(journal, &progress, None);
    }
    progress.finish();
    journal.finish()?;
    Ok(journal.into_results())
}

/// infer-cpu's `work`, calibrated on the server CPUs when the plan asks (`target_ms`), into
/// `cfg.cpu_work`.
fn calibrate(cfg: &mut RunConfig, target_ms: Option<f64>) -> anyhow::Result<Option<crate::probe::Calibration>> {
    let Some(target_ms) = target_ms else { return Ok(None) };
    let c = crate::probe::calibrate(&cfg.server_cpus, target_ms)?;
    if cfg.progress {
        crate::errln!(
            "infer-cpu: work = {} ({:.3} ms per 1000 passes on CPU {:?}; target {} ms per request)",
            c.work,
            c.ms_per_1000,
            cfg.server_cpus,
            target_ms
        );
    }
    cfg.cpu_work = Some(c.work);
    Ok(Some(c))
}

/// The driver's runtime. Its threads inherit the client pinning from the calling thread.
/// With one client CPU the driver runs on this (pinned) thread: a current-thread runtime
/// skips the work-stealing machinery that a single worker cannot use.
fn client_runtime(cfg: &RunConfig) -> std::io::Result<tokio::runtime::Runtime> {
    if cfg.client_cpus.len() <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(cfg.client_cpus.len()).enable_all().build()
    }
}

/// A signal came: the target it found is `interrupted` (its completed points kept), the
/// run is marked, results.json written; only then is the server stopped. The caller exits 130.
fn record_interruption(
    mut journal: Journal,
    progress: &crate::progress::Progress,
    live: Option<Instance>,
) -> anyhow::Result<Results> {
    let i = crate::interrupt::interruption("harness").context("interrupted, but no signal was recorded")?;
    let saved = journal.interrupted(&i);
    drop(live);
    progress.line(&format!(
        "harness: interrupted{}{}{}; results.json records it",
        i.target.as_deref().map(|t| format!(" at {t}")).unwrap_or_default(),
        i.during.as_deref().map(|d| format!(", {d}")).unwrap_or_default(),
        i.point.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
    ));
    progress.finish();
    saved?;
    Ok(journal.into_results())
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

/// What one target's steps share: the run, its plan, and the results entry they fill.
struct TargetRun<'a> {
    cfg: &'a RunConfig,
    progress: &'a crate::progress::Progress,
    rt: &'a tokio::runtime::Runtime,
    source: &'a TargetSource,
    plan: &'a TargetPlan,
    workers: usize,
    journal: &'a mut Journal,
    idx: usize,
    cost: crate::results::Cost,
    /// Calibrate infer-cpu's `work` on this target (the run seeded it); false when the
    /// caller fixed `work`.
    calibrate_work: bool,
}

impl TargetRun<'_> {
    fn manifest(&self) -> Option<&Manifest> {
        match self.source {
            TargetSource::Manifest(m) => Some(m),
            TargetSource::Url { .. } => None,
        }
    }

    /// The target's steps in plan order: build and static cost, a first instance (startup,
    /// idle RSS, verification, robustness), each workload on a fresh instance, cold starts,
    /// memory fits, shutdown. The instance up at any time is in `live`.
    fn run(mut self, built: &mut Vec<String>, live: &mut Option<Instance>) -> anyhow::Result<()> {
        self.build(built)?;
        crate::interrupt::at_step("starting", None);
        let instance = live.insert(self.open()?);
        self.verify(instance)?;
        // Every workload runs on a freshly started server, so that its memory figures do not
        // depend on what ran before (an allocator keeps what earlier loads grew; verification
        // alone sends 1 MiB bodies). Spawned targets are restarted; a --url target cannot be.
        for wp in &self.plan.workloads {
            if self.plan.spawned {
                if let Some(mut r) = live.take().and_then(|i| i.running) {
                    crate::interrupt::at_step("stopping", None);
                    r.stop();
                }
                crate::interrupt::at_step("starting", None);
                *live = Some(self.open()?);
            }
            let instance = live.as_mut().expect("an instance is up");
            let sampler = Sampler::start(instance.pid());
            let ctx = Ctx {
                cfg: self.cfg,
                progress: self.progress,
                rt: self.rt,
                sampler: &sampler,
                base_url: &instance.base_url,
                calibrate_work: self.calibrate_work,
            };
            let outcome = run_workload(&ctx, wp, self.journal, self.idx);
            // A server that died is the reason, whatever error its absence caused.
            if let Some(r) = instance.running.as_mut() {
                r.check_alive()?;
            }
            outcome?;
        }
        self.cold_starts()?;
        let tr = self.journal.target_mut(self.idx);
        tr.memory = analysis::memory_fits(&tr.points);
        if let Some(mut r) = live.take().and_then(|i| i.running) {
            tr.shutdown = Some(r.stop());
        }
        self.journal.save()
    }

    /// The build (once per run for a shared build), its own-package build time, and the
    /// cost figures read off the workspace.
    fn build(&mut self, built: &mut Vec<String>) -> anyhow::Result<()> {
        let Some(m) = self.manifest().cloned() else { return Ok(()) };
        if self.plan.build.is_some() && !built.contains(&m.build) {
            crate::interrupt::at_step("building", None);
            self.progress.line(&format!("{}: building: {}", m.name, m.build));
            let log = self.cfg.out_dir.join(format!("{}.build.log", m.name));
            target::build(&m, &self.cfg.root, &log)?;
            built.push(m.build.clone());
            if let Some(pkg) = crate::cost::cargo_package(&m) {
                match crate::cost::own_package_build(&m, &self.cfg.root, &pkg, &log) {
                    Ok(secs) => {
                        self.cost.build_s = Some(secs);
                        self.cost.build_kind = Some("incremental".into());
                    }
                    Err(e) => crate::errln!("{}: own-package build time not measured: {e:#}", m.name),
                }
            }
        }
        measure_static_cost(&m, &self.cfg.root, &mut self.cost);
        Ok(())
    }

    /// A fresh instance of a manifest target (its startup recorded), or the running service.
    fn open(&mut self) -> anyhow::Result<Instance> {
        match self.source {
            TargetSource::Manifest(m) => start(self.cfg, m, self.workers, &mut self.cost),
            TargetSource::Url { base_url, .. } => {
                Ok(Instance { base_url: base_url.trim_end_matches('/').to_owned(), running: None })
            }
        }
    }

    /// On the first instance: startup and idle RSS, then the conformance corpus (a target
    /// that fails it gets no numbers), then the hostile checks when planned.
    fn verify(&mut self, instance: &mut Instance) -> anyhow::Result<()> {
        let tr = self.journal.target_mut(self.idx);
        if let Some(r) = &instance.running {
            tr.startup_ms = Some(r.startup.as_secs_f64() * 1e3);
            tr.server_affinity = r.server_affinity.clone();
        }
        tr.idle_rss_bytes = idle_rss(instance);
        self.cost.idle_rss_bytes = tr.idle_rss_bytes;
        if self.plan.spawned {
            tr.cost = Some(self.cost.clone());
        }
        self.journal.save()?;
        let cases = workloads::conformance::corpus();
        crate::interrupt::at_step("verifying", None);
        let corpus = workloads::conformance::http::run_corpus(&instance.base_url, &cases);
        let report = self.rt.block_on(crate::interrupt::unless_signalled(corpus))?;
        let verification = Verification::of(&report, cases.len());
        let (passed, failed) = (verification.passed, verification.failures.len());
        self.journal.target_mut(self.idx).verification = Some(verification);
        self.journal.save()?;
        if let Some(r) = instance.running.as_mut() {
            r.check_alive()?;
        }
        anyhow::ensure!(passed, "failed verification: {failed} of {} conformance cases", cases.len());
        let name = self.journal.target(self.idx).name.clone();
        self.progress.line(&format!("{name}: verified ({} cases)", cases.len()));
        if self.plan.hostile {
            crate::interrupt::at_step("robustness", None);
            // On the verification instance: every workload starts a fresh server anyway.
            let (pid, log) = instance.running.as_ref().map(|r| (r.pid, r.stderr_log.clone())).unzip();
            let opts = crate::hostile::Options::default();
            let r = crate::hostile::measure(&instance.base_url, pid, log.as_deref(), &opts)?;
            let mut findings = r.verdict();
            findings.extend(r.slow_client_findings());
            let summary = if findings.is_empty() { "robust".to_owned() } else { findings.join("; ") };
            self.progress.line(&format!("{name}: hostile corpus {}/{}: {summary}", r.passed, r.cases));
            self.journal.target_mut(self.idx).robustness = Some(r);
            self.journal.save()?;
            if let Some(r) = instance.running.as_mut() {
                r.check_alive()?;
            }
        }
        Ok(())
    }

    /// Cold starts until there are enough for the startup median.
    fn cold_starts(&mut self) -> anyhow::Result<()> {
        let Some(m) = self.manifest().cloned() else { return Ok(()) };
        crate::interrupt::at_step("startup runs", None);
        while self.cost.startup_runs_ms.len() < self.plan.startup_runs {
            let mut extra = start(self.cfg, &m, self.workers, &mut self.cost)?;
            if let Some(mut r) = extra.running.take() {
                r.stop();
            }
        }
        self.journal.target_mut(self.idx).cost = Some(self.cost.clone());
        Ok(())
    }
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
    calibrate_work: bool,
}

/// One workload's steps from the plan, in order, on one fresh server. Rates that depend on
/// earlier points (predict's fractions of its closed-loop maximum) are resolved here.
fn run_workload(ctx: &Ctx, wp: &WorkloadPlan, journal: &mut Journal, idx: usize) -> anyhow::Result<()> {
    let p = &ctx.cfg.profile;
    let w = wp.workload;
    let spec = crate::workload::spec(w);
    if spec.needs_cpu_work() {
        ctx.cfg.cpu_work.with_context(|| format!("{w} needs a seed `work` (RunConfig::cpu_work)"))?;
    }
    // The run's seed `work`, until this target's own calibration replaces it.
    let mut cpu_work = ctx.cfg.cpu_work;
    let mut payloads = spec.payloads(p, cpu_work);
    let mut closed_max: Option<f64> = None;
    let mut idle_probe = None;
    for step in &wp.steps {
        match step {
            Step::Goose { .. } => {
                crate::interrupt::at_step("measuring", Some(w.name().to_owned()));
                let out =
                    crate::workload::mixed::Output { dir: &ctx.cfg.out_dir, client_cpus: ctx.cfg.client_cpus.len() };
                let name = &journal.target(idx).name;
                let point = crate::workload::mixed::run(p, out, ctx.rt, ctx.sampler, ctx.base_url, name)?;
                push_point(ctx.progress, journal, idx, point)?;
            }
            Step::CalibrateWork { target_ms, calibration } => {
                let seed = cpu_work.with_context(|| format!("{w} needs a seed `work`"))?;
                let cal = calibrate_work(ctx, &journal.target(idx).name, seed, *target_ms, calibration)?;
                cpu_work = Some(cal.work);
                payloads = spec.payloads(p, cpu_work);
                journal.target_mut(idx).cpu_calibration = Some(cal);
                journal.save()?;
            }
            Step::ProbeBaseline { rate_rps, window } => idle_probe = Some(probe_baseline(ctx, *rate_rps, window)?),
            Step::Point(pt) => {
                let payloads = payloads.as_ref().with_context(|| format!("{w} has no payloads"))?;
                let (rate, basis) = match pt.mode {
                    PlannedMode::Closed { .. } => (None, None),
                    PlannedMode::Open { rate, .. } => {
                        let (r, basis) = rate.resolve(closed_max)?;
                        (Some(r), Some(basis))
                    }
                };
                let mut m = measure(ctx, w, payloads, pt.mode.to_mode(rate), basis, &pt.window, pt.probe_rps)?;
                if let PlannedMode::Closed { .. } = pt.mode {
                    closed_max = Some(closed_max.unwrap_or(0.0).max(m.point.summary.throughput_rps.median));
                }
                spec.derive(p, &mut m.point);
                if let Some(probe) = m.probe.take() {
                    let idle = idle_probe.as_ref().context("a probe point needs its idle baseline first")?;
                    attach_probe(&mut m.point, &probe, idle, cpu_work.unwrap_or(0), pt.probe_rps.unwrap_or(0.0));
                }
                push_point(ctx.progress, journal, idx, m.point)?;
            }
        }
    }
    Ok(())
}

/// infer-cpu's `work` for this target: trials at concurrency 1 on its fresh server, each
/// reading the server's CPU over its window as every point does (`repeat_of`), from the
/// run's seed (docs/metrics.md, "Event-loop probe").
fn calibrate_work(
    ctx: &Ctx,
    name: &str,
    seed: u64,
    target_ms: f64,
    c: &crate::workload::infer_cpu::Calibration,
) -> anyhow::Result<crate::results::CpuCalibration> {
    let unmeasured = |method: &str| crate::results::CpuCalibration {
        target_ms,
        seed_work: seed,
        work: seed,
        measured_ms: None,
        method: method.into(),
        trials: Vec::new(),
    };
    if !ctx.calibrate_work {
        return Ok(unmeasured("fixed: the caller set `work`"));
    }
    if ctx.sampler.server_pid().is_none() {
        return Ok(unmeasured("not measured: no server process to read CPU from (a --url target); the seed is kept"));
    }
    crate::interrupt::at_step("measuring", Some("infer-cpu calibration of `work`".into()));
    let cal = crate::probe::calibrate_on_target(seed, target_ms, c.tolerance, c.max_trials, |work| {
        let spec = LoadSpec {
            mode: Mode::Closed { connections: 1 },
            warmup: c.warmup,
            stop: Stop::Duration(c.window),
            request_timeout: REQUEST_TIMEOUT,
        };
        let r = ctx.rt.block_on(driver::run(ctx.base_url, PayloadSet::infer_cpu(work), spec))?;
        let failed = r.recorded.failed() + r.dropped;
        anyhow::ensure!(failed == 0, "infer-cpu calibration: {failed} request(s) at work {work} failed");
        let ws = ctx.sampler.window(r.window_start, r.window_end, ctx.cfg.client_cpus.len());
        let (completed, window_s) = (r.completed_in_window, r.window().as_secs_f64());
        Ok(crate::results::CalibrationTrial {
            work,
            cpu_ms: ws.server_cpu_rate.filter(|_| completed > 0).map(|rate| rate * window_s * 1e3 / completed as f64),
            completed,
            window_s,
        })
    })?;
    let first = cal.trials.first().and_then(|t| t.cpu_ms).map_or("unmeasured".into(), |ms| format!("{ms:.1} ms"));
    ctx.progress.line(&format!(
        "{name}: infer-cpu work = {} ({}: {} of server CPU per request after {} trial(s); the seed {seed} cost {first})",
        cal.work,
        cal.method,
        cal.measured_ms.map_or("unmeasured".into(), |ms| format!("{ms:.2} ms")),
        cal.trials.len(),
    ));
    Ok(cal)
}

/// infer-cpu's idle baselines: the `/health` probe alone on the fresh server, plainly
/// idle and with every CPU of the run kept awake (`None` where the spinner could not start).
struct Baseline {
    plain: hdrhistogram::Histogram<u64>,
    awake: Option<hdrhistogram::Histogram<u64>>,
}

/// Both baselines, in `window.repeats` rounds of a plain window then an awake one, each
/// `window.duration / repeats` long, so each baseline has `window.duration` in all and host
/// drift falls on both alike. The first window warms up for `window.warmup`, the others for
/// [`crate::workload::infer_cpu::REWARM`] (the server is warm by then; the probe's fresh
/// connections are not). The awake windows run a `SCHED_IDLE` spinner on every server and client CPU
/// (`target::keep_awake`): an idle vCPU costs a wake-up that a loaded one does not, so the
/// plain baseline of a Rust target read above its loaded probe (0.53–0.62 ms against
/// 0.27–0.38 ms); the awake one is the floor under the loaded points' CPU conditions.
fn probe_baseline(ctx: &Ctx, rate_rps: f64, window: &Window) -> anyhow::Result<Baseline> {
    let empty = || driver::Recorder::default().latency_us;
    let (mut plain, mut awake) = (empty(), Some(empty()));
    crate::interrupt::at_step("measuring", Some("infer-cpu probe idle baseline".into()));
    let rounds = window.repeats.max(1);
    let each = window.duration / rounds as u32;
    for i in 0..rounds {
        crate::interrupt::at_repeat(i + 1, rounds);
        let warmup = if i == 0 { window.warmup } else { crate::workload::infer_cpu::REWARM };
        let spec = crate::probe::probe_spec(rate_rps, warmup, each, REQUEST_TIMEOUT);
        let r = ctx.rt.block_on(driver::run(ctx.base_url, PayloadSet::health(), spec))?;
        plain.add(&r.recorded.latency_us).expect("same histogram bounds");
        if awake.is_none() {
            continue;
        }
        // Every CPU of the run: the server's, and the client's, which load keeps busy too.
        let mut cpus: Vec<usize> = ctx.cfg.server_cpus.iter().chain(&ctx.cfg.client_cpus).copied().collect();
        cpus.sort_unstable();
        cpus.dedup();
        let spinner = match crate::target::keep_awake(&cpus) {
            Ok(s) => s,
            Err(e) => {
                ctx.progress.line(&format!("infer-cpu awake baseline not measured: {e:#}"));
                awake = None;
                continue;
            }
        };
        let spec = crate::probe::probe_spec(rate_rps, crate::workload::infer_cpu::REWARM, each, REQUEST_TIMEOUT);
        let r = ctx.rt.block_on(driver::run(ctx.base_url, PayloadSet::health(), spec));
        drop(spinner);
        if let Some(a) = awake.as_mut() {
            a.add(&r?.recorded.latency_us).expect("same histogram bounds");
        }
    }
    Ok(Baseline { plain, awake })
}

/// The probe's figures beside an infer-cpu point; a failed probe flags the point `errors`.
fn attach_probe(point: &mut Point, probe: &driver::Recorder, idle: &Baseline, work: u64, rate_rps: f64) {
    point.summary.probe = Some(ProbeSummary {
        work,
        rate_rps,
        loaded_us: Latency::of(&probe.latency_us),
        idle_us: Latency::of(&idle.plain),
        awake_us: idle.awake.as_ref().map(Latency::of),
        probe_requests: probe.responses(),
        probe_errors: probe.errors.total(),
    });
    if probe.errors.total() > 0 && !point.summary.flags.contains(&crate::results::Flag::Errors) {
        point.summary.flags.push(crate::results::Flag::Errors);
    }
}

/// Shows the point's figures in the progress and records it in the journal.
fn push_point(
    progress: &crate::progress::Progress,
    journal: &mut Journal,
    idx: usize,
    point: Point,
) -> anyhow::Result<()> {
    let s = &point.summary;
    let at = format!(
        "{} {} c={}{}",
        point.workload,
        point.mode,
        point.connections,
        point.rate_rps.map(|r| format!(" rate={r:.0}")).unwrap_or_default()
    );
    let name = &journal.target(idx).name;
    progress.point(name, &at, s.throughput_rps.median, s.errors);
    progress.line(&format!(
        "{name}: {at}: {:.0} req/s [{:.0}–{:.0}], p50 {} µs, p99 {} µs (n {}){}",
        s.throughput_rps.median,
        s.throughput_rps.min,
        s.throughput_rps.max,
        s.latency_us.p50,
        Latency::show(s.latency_us.p99),
        s.latency_us.show_n(),
        if s.flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(","))
        }
    ));
    journal.record_point(idx, point)
}

/// A measured point, and the probe's merged recorder when a probe ran beside it.
struct Measured {
    point: Point,
    probe: Option<driver::Recorder>,
}

/// One point: `window.repeats` measured windows, each after its own warm-up; with
/// `probe_rps`, the `/health` probe runs beside the load in every window.
fn measure(
    ctx: &Ctx,
    workload: Workload,
    payloads: &PayloadSet,
    mode: Mode,
    rate_basis: Option<String>,
    window: &Window,
    probe_rps: Option<f64>,
) -> anyhow::Result<Measured> {
    let (rt, base_url) = (ctx.rt, ctx.base_url);
    let mut repeats = Vec::with_capacity(window.repeats);
    let mut merged = driver::Recorder::default().latency_us;
    let mut merged_lag = driver::Recorder::default().send_lag_us;
    let mut merged_overhead = driver::Recorder::default().overhead_us;
    let mut merged_stream: Option<driver::StreamRecorder> = None;
    let mut probe: Option<driver::Recorder> = None;
    crate::interrupt::at_step("measuring", Some(point_label(workload, mode)));
    for i in 0..window.repeats {
        crate::interrupt::at_repeat(i + 1, window.repeats);
        let spec = LoadSpec {
            mode,
            warmup: window.warmup,
            stop: Stop::Duration(window.duration),
            request_timeout: REQUEST_TIMEOUT,
        };
        let r = match probe_rps {
            None => rt.block_on(driver::run(base_url, payloads.clone(), spec))?,
            Some(rate) => {
                let (r, pr) = rt.block_on(crate::probe::run_with_probe(base_url, payloads.clone(), spec, rate))?;
                probe.get_or_insert_with(driver::Recorder::default).merge_from(&pr.recorded);
                r
            }
        };
        merged.add(&r.recorded.latency_us).expect("same histogram bounds");
        merged_lag.add(&r.recorded.send_lag_us).expect("same histogram bounds");
        merged_overhead.add(&r.recorded.overhead_us).expect("same histogram bounds");
        repeats.push(repeat_of(ctx, &r, mode));
        if let Some(s) = &r.recorded.stream {
            merged_stream.get_or_insert_with(driver::StreamRecorder::default).merge_from(s);
        }
    }
    let delay = payloads.entries.first().and_then(|e| e.stream.as_ref()).map_or(0, |s| s.token_delay_ms);
    let mut point = analysis::point(workload, mode, rate_basis, repeats, Latency::of(&merged));
    point.summary.overhead_us = (!payloads.exchange_floor.is_zero()).then(|| Latency::of(&merged_overhead));
    match mode {
        Mode::Closed { .. } => {
            point.summary.held_concurrency =
                analysis::held_concurrency(point.summary.throughput_rps.median, payloads.exchange_floor);
        }
        Mode::Open { .. } => analysis::with_send_lag(&mut point, Latency::of(&merged_lag)),
    }
    point.summary.streaming = merged_stream.map(|s| analysis::stream_summary(&s, delay, &point.repeats));
    Ok(Measured { point, probe })
}

/// One measured window as results.json records it, with the sampler's figures for it.
fn repeat_of(ctx: &Ctx, r: &driver::LoadResult, mode: Mode) -> Repeat {
    let ws = ctx.sampler.window(r.window_start, r.window_end, ctx.cfg.client_cpus.len());
    let throughput = r.throughput_rps();
    // CPU per response: the window's CPU over the responses completed in it (its work).
    let completed = r.completed_rps();
    Repeat {
        throughput_rps: throughput,
        answered_of_window: r.answered_of_window,
        responses: r.recorded.responses(),
        completed_in_window: Some(r.completed_in_window),
        thirds_p50_us: r.thirds_p50_us,
        failed: r.recorded.failed() + r.dropped,
        answered_mean_us: r.recorded.answered_mean_us(),
        alignment_wait_s: r.alignment_wait.as_secs_f64(),
        window_s: r.window().as_secs_f64(),
        latency_us: Latency::of(&r.recorded.latency_us),
        cpu_us_per_request: ws.server_cpu_rate.filter(|_| completed > 0.0).map(|rate| rate * 1e6 / completed),
        rss_peak_bytes: ws.rss_peak_bytes,
        rss_mean_bytes: ws.rss_mean_bytes,
        client_cpu_share: ws.client_cpu_share,
        pss_mean_bytes: ws.pss_mean_bytes,
        sampler_cpu_share: ws.sampler_cpu_share,
        send_lag_us: matches!(mode, Mode::Open { .. }).then(|| Latency::of(&r.recorded.send_lag_us)),
        overhead_us: (r.recorded.overhead_us.len() > 0).then(|| Latency::of(&r.recorded.overhead_us)),
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
    }
}

/// A point as progress lines and interruption records name it: `<workload> <mode>
/// c=<connections>[ rate=<req/s>]` (for an open-loop point, `c` is its pool bound).
fn point_label(workload: Workload, mode: Mode) -> String {
    match mode {
        Mode::Closed { connections } => format!("{workload} closed c={connections}"),
        Mode::Open { rate_rps, max_connections, .. } => {
            format!("{workload} open c={max_connections} rate={rate_rps:.0}")
        }
    }
}
