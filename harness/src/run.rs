//! The orchestrator: builds the plan (`plan`), then executes it. First each target alone:
//! build → spawn pinned → readiness → verify (and robustness) → stop. Then workload by
//! workload, every target's server up at once (a fresh instance each): each point's round r
//! runs on every target, in an order shuffled per round from the run's seed, before round
//! r + 1 (docs/methodology.md, "Interleaved rounds"). Last, each target's cold starts and
//! memory fits. Every finished round goes to the journal (`rounds.jsonl`) and every point
//! to results.json, so an interrupted run keeps what it finished and `--resume` continues
//! it. A target that fails a step is recorded as skipped or failed with the reason, and
//! the run goes on without it. What the figures mean is computed in `analysis`; this
//! module only runs things and records them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis;
use crate::driver::{self, LoadSpec, Mode, PayloadSet, Stop};
use crate::journal::{ProbeHists, RoundData, RoundRecord, StreamHists};
use crate::manifest::Manifest;
use crate::plan::{PlannedMode, REQUEST_TIMEOUT, RunConfig, Step, TargetPlan, TargetSource, Window, describe};
use crate::results::{Api, Hist, RoundOrder, Workload};

pub use crate::analysis::CLIENT_BOUND_SHARE;
use crate::journal::Journal;
use crate::results::{Latency, Point, ProbeSummary, Repeat, Results, StreamRepeat, TargetStatus};
use crate::sampler::Sampler;
use crate::stats;
use crate::target::{self, Running};

/// Runs the whole plan; returns the final results (also in `out_dir/results.json`).
pub fn execute(cfg: &RunConfig) -> anyhow::Result<Results> {
    execute_from(cfg, None)
}

/// Runs the plan, continuing `prior` (an earlier run's journal, reopened) when given:
/// what it recorded is kept and not run again (docs/methodology.md, "Resume").
pub fn execute_from(cfg: &RunConfig, prior: Option<Journal>) -> anyhow::Result<Results> {
    let plan = crate::plan::build(cfg);
    let mut cfg = cfg.clone();
    let resumed = prior.is_some();
    // A resumed run keeps the seed `work` it recorded.
    let recorded_work = prior.as_ref().and_then(|j| j.results().environment.cpu_work);
    let calibration = match recorded_work {
        Some(w) => {
            cfg.cpu_work = Some(w);
            None
        }
        None => calibrate(&mut cfg, plan.calibrate_cpu_ms)?,
    };
    let cfg = &cfg;
    std::fs::create_dir_all(&cfg.out_dir).with_context(|| format!("cannot create {}", cfg.out_dir.display()))?;
    let (nofile, nofile_warning) = target::raise_nofile();
    target::pin_current_thread(&cfg.client_cpus)?;
    let rt = client_runtime(cfg)?;
    let workers = plan.workers;
    crate::interrupt::set_grace(cfg.stop_timeout);
    let mut journal = match prior {
        Some(j) => j,
        None => {
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
                env.warnings
                    .push("the harness is a debug build: its numbers are not comparable with release runs".into());
            }
            let mut j = Journal::begin(&cfg.out_dir, serde_json::to_value(&cfg.profile)?, env)?;
            j.results_mut().invocation = cfg.invocation.clone();
            j
        }
    };
    let seed = match journal.results().order.as_ref() {
        Some(o) if resumed => o.seed,
        _ => cfg.seed.unwrap_or_else(fresh_seed),
    };
    journal.results_mut().order.get_or_insert_with(Default::default).seed = seed;
    journal.save()?;

    let progress = crate::progress::Progress::new(cfg.progress, cfg.targets.len());
    let mut slots: Vec<Slot> = Vec::new();
    let mut built: Vec<String> = Vec::new();
    // Each target alone: build, verification, robustness.
    for (source, tplan) in cfg.targets.iter().zip(&plan.targets) {
        let fresh = describe(source, &cfg.root, workers);
        let name = fresh.name.clone();
        crate::interrupt::at_target(&name);
        let idx = match journal.results().targets.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                let mut tr = fresh;
                tr.status = TargetStatus::Running;
                journal.add_target(tr)?
            }
        };
        let status = journal.target(idx).status;
        let mut slot = Slot {
            idx,
            name,
            source,
            plan: tplan,
            cost: journal.target(idx).cost.clone().unwrap_or_default(),
            live: None,
            // A resumed run continues only what had not ended.
            active: matches!(status, TargetStatus::Running | TargetStatus::Interrupted),
        };
        if slot.active {
            journal.target_mut(idx).status = TargetStatus::Running;
            journal.target_mut(idx).interrupted = None;
            let outcome = slot.prepare(cfg, &rt, &progress, workers, &mut built, &mut journal);
            if crate::interrupt::claim() {
                return record_interruption(journal, &progress, slots.into_iter().chain([slot]).collect());
            }
            slot.stop(&mut journal);
            if let Err(reason) = outcome {
                slot.fail(&mut journal, &progress, &reason)?;
            }
        }
        slots.push(slot);
    }
    // Workload by workload, every target's server up at once, the rounds interleaved.
    let n_workloads = plan.targets.first().map_or(0, |t| t.workloads.len());
    let extra_left = cfg.profile.extra_round_share * crate::plan::planned_seconds(&plan);
    // The time left is estimated from here: builds and verification are behind.
    let eta = Eta::new(crate::plan::planned_seconds(&plan));
    for wi in 0..n_workloads {
        let run = Interleave {
            cfg,
            rt: &rt,
            progress: &progress,
            workers,
            seed,
            eta: &eta,
            calibrate_work: plan.calibrate_cpu_ms.is_some(),
            extra_left: std::cell::Cell::new(extra_left),
        };
        let outcome = run.workload(&mut slots, wi, &mut journal);
        if crate::interrupt::claim() {
            return record_interruption(journal, &progress, slots);
        }
        outcome?;
    }
    // Each target alone again: cold starts, memory fits.
    for slot in slots.iter_mut().filter(|s| s.active) {
        crate::interrupt::at_target(&slot.name);
        let outcome = slot.cold_starts(cfg, workers, &mut journal);
        if crate::interrupt::claim() {
            return record_interruption(journal, &progress, slots);
        }
        match outcome {
            Ok(()) => {
                let tr = journal.target_mut(slot.idx);
                tr.memory = analysis::memory_fits(&tr.points);
                tr.status = TargetStatus::Measured;
                journal.save()?;
            }
            Err(reason) => slot.fail(&mut journal, &progress, &reason)?,
        }
        progress.target_done();
    }
    if crate::interrupt::claim() {
        return record_interruption(journal, &progress, slots);
    }
    progress.finish();
    journal.finish()?;
    Ok(journal.into_results())
}

/// A seed for the round order when none is given: the clock's nanoseconds (recorded).
fn fresh_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// `items` in the order of round `round` of step `step` of `w`: a Fisher–Yates shuffle
/// seeded from the run's seed and the round's place, so a resumed run re-derives it.
pub fn round_order<T: Clone>(items: &[T], seed: u64, w: Workload, step: usize, round: usize) -> Vec<T> {
    let place = (w as u64) << 48 ^ (step as u64) << 24 ^ round as u64;
    let mut rng = workloads::model::SplitMix64::new(seed ^ place.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

/// The run's estimated time left, from the plan's seconds and the pace so far.
struct Eta {
    planned_s: f64,
    started: Instant,
    done_s: std::cell::Cell<f64>,
}

impl Eta {
    fn new(planned_s: f64) -> Self {
        Eta { planned_s, started: Instant::now(), done_s: std::cell::Cell::new(0.0) }
    }

    /// `s` planned seconds are done; returns `ETA 12 min` (the planned seconds left at the
    /// pace so far, which includes start-ups and builds).
    fn advance(&self, s: f64) -> String {
        let done = self.done_s.get() + s;
        self.done_s.set(done);
        let pace = if done > 0.0 { self.started.elapsed().as_secs_f64() / done } else { 1.0 };
        let left = (self.planned_s - done).max(0.0) * pace.max(1.0);
        format!("ETA {:.0} min", (left / 60.0).ceil())
    }
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
/// run is marked, results.json written; only then are the servers stopped. The caller exits 130.
fn record_interruption(
    mut journal: Journal,
    progress: &crate::progress::Progress,
    slots: Vec<Slot>,
) -> anyhow::Result<Results> {
    let i = crate::interrupt::interruption("harness").context("interrupted, but no signal was recorded")?;
    let saved = journal.interrupted(&i);
    // Every other target still being measured is cut short too.
    for s in slots.iter().filter(|s| s.active) {
        let t = journal.target_mut(s.idx);
        if t.status == TargetStatus::Running {
            t.status = TargetStatus::Interrupted;
            t.interrupted = Some(i.clone());
        }
    }
    let saved = saved.and_then(|()| journal.save());
    drop(slots);
    progress.line(&format!(
        "harness: interrupted{}{}{}; results.json records it (continue with `harness run --resume {}`)",
        i.target.as_deref().map(|t| format!(" at {t}")).unwrap_or_default(),
        i.during.as_deref().map(|d| format!(", {d}")).unwrap_or_default(),
        i.point.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
        journal.dir().display()
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
    /// A `--url` server's process (`--pid`): sampled, never stopped.
    external_pid: Option<i32>,
    /// `upstream-direct`'s mock, held so that it serves until the instance is dropped.
    #[expect(dead_code, reason = "held for its Drop, which stops the mock")]
    upstream: Option<crate::upstream::Upstream>,
}

impl Instance {
    fn pid(&self) -> Option<i32> {
        self.running.as_ref().map(|r| r.pid).or(self.external_pid)
    }
}

/// Starts `m` (pinned) and records its startup time in `cost`.
fn start(cfg: &RunConfig, m: &Manifest, workers: usize, cost: &mut crate::results::Cost) -> anyhow::Result<Instance> {
    let mut r =
        target::spawn(m, &cfg.root, workers, &cfg.server_cpus, &cfg.client_cpus, &cfg.out_dir, cfg.ready_timeout)?;
    r.stop_timeout = cfg.stop_timeout;
    cost.startup_runs_ms.push(r.startup.as_secs_f64() * 1e3);
    cost.startup_ms_median = stats::summarize(&cost.startup_runs_ms).map(|s| s.median);
    Ok(Instance { base_url: r.base_url.clone(), running: Some(r), external_pid: None, upstream: None })
}

/// The idle window: after readiness, before any load (the allocator has not yet grown for
/// load). One second, so the kernel's 10 ms CPU-time ticks resolve 1% of a core (as
/// docs/metrics.md says); 200 ms of settling first, as the idle RSS always had.
const IDLE_SETTLE: Duration = Duration::from_millis(200);
const IDLE_WINDOW: Duration = Duration::from_secs(1);

/// Idle RSS, PSS, processes, threads and CPU of the server's tree.
fn idle(i: &Instance) -> Option<crate::sampler::Idle> {
    let pid = i.pid()?;
    std::thread::sleep(IDLE_SETTLE);
    crate::sampler::idle(pid, IDLE_WINDOW)
}

/// One target in the run: its plan, its results entry, and its server when one is up.
struct Slot<'a> {
    idx: usize,
    name: String,
    source: &'a TargetSource,
    plan: &'a TargetPlan,
    cost: crate::results::Cost,
    live: Option<Instance>,
    /// Still measured: false once it failed (or, resumed, when it had ended).
    active: bool,
}

impl Slot<'_> {
    fn manifest(&self) -> Option<&Manifest> {
        match self.source {
            TargetSource::Manifest(m) => Some(m),
            TargetSource::Url { .. } | TargetSource::Upstream => None,
        }
    }

    /// A fresh instance of a manifest target (its startup recorded), or the running service.
    fn open(&mut self, cfg: &RunConfig, workers: usize) -> anyhow::Result<Instance> {
        match self.source {
            TargetSource::Manifest(m) => start(cfg, m, workers, &mut self.cost),
            TargetSource::Url { base_url, pid, .. } => {
                if let Some(pid) = pid {
                    anyhow::ensure!(
                        std::path::Path::new(&format!("/proc/{pid}")).exists(),
                        "--pid {pid}: no such process to sample"
                    );
                }
                Ok(Instance {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    running: None,
                    external_pid: *pid,
                    upstream: None,
                })
            }
            // On this thread's CPUs: the client's.
            TargetSource::Upstream => {
                let upstream = crate::upstream::Upstream::start();
                Ok(Instance { base_url: upstream.url(), running: None, external_pid: None, upstream: Some(upstream) })
            }
        }
    }

    /// Stops its server, if one is up, and records how it went.
    fn stop(&mut self, journal: &mut Journal) {
        if let Some(mut r) = self.live.take().and_then(|i| i.running) {
            crate::interrupt::at_step("stopping", None);
            journal.target_mut(self.idx).shutdown = Some(r.stop());
        }
    }

    /// The target failed a step: its server stopped, its points kept; `failed` when it has
    /// points, so that nobody reads its partial numbers as a full run, else `skipped`.
    fn fail(
        &mut self,
        journal: &mut Journal,
        progress: &crate::progress::Progress,
        reason: &anyhow::Error,
    ) -> anyhow::Result<()> {
        self.active = false;
        self.live = None;
        let tr = journal.target_mut(self.idx);
        tr.status = if tr.points.is_empty() { TargetStatus::Skipped } else { TargetStatus::Failed };
        progress.line(&format!("{}: {}: {reason:#}", tr.name, tr.status));
        tr.skip_reason = Some(format!("{reason:#}"));
        journal.save()?;
        progress.target_done();
        Ok(())
    }

    /// Build, then a first instance: startup and idle RSS, the conformance corpus (a target
    /// that fails it gets no numbers), the hostile checks when planned. A resumed target
    /// that passed verification before is only built again (a no-op when nothing changed).
    fn prepare(
        &mut self,
        cfg: &RunConfig,
        rt: &tokio::runtime::Runtime,
        progress: &crate::progress::Progress,
        workers: usize,
        built: &mut Vec<String>,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        self.build(cfg, progress, built)?;
        let tr = journal.target(self.idx);
        let verified = tr.verification.as_ref().is_some_and(|v| v.passed);
        if verified && (!self.plan.hostile || tr.robustness.is_some()) {
            return Ok(());
        }
        crate::interrupt::at_step("starting", None);
        let instance = self.open(cfg, workers)?;
        let instance = self.live.insert(instance);
        let tr = journal.target_mut(self.idx);
        if let Some(r) = &instance.running {
            tr.startup_ms = Some(r.startup.as_secs_f64() * 1e3);
            tr.server_affinity = r.server_affinity.clone();
        }
        let idle = idle(instance);
        tr.idle_rss_bytes = idle.map(|i| i.rss_bytes);
        self.cost.idle_rss_bytes = tr.idle_rss_bytes;
        if let Some(i) = idle {
            self.cost.idle_pss_bytes = Some(i.pss_bytes);
            self.cost.idle_processes = Some(i.processes);
            self.cost.idle_threads = Some(i.threads);
            self.cost.idle_cpu_cores = Some(i.cpu_cores);
            self.cost.idle_window_s = Some(i.window.as_secs_f64());
        }
        if self.plan.spawned {
            tr.cost = Some(self.cost.clone());
        }
        journal.save()?;
        let instance = self.live.as_mut().expect("an instance is up");
        if matches!(self.source, TargetSource::Url { api: Api::Openai, .. } | TargetSource::Upstream) {
            return self.verify_openai(cfg, rt, progress, journal);
        }
        crate::interrupt::at_step("verifying", None);
        let upstream = instance.running.as_ref().and_then(|r| r.upstream.as_ref());
        let checks = crate::workload::gateway::verify_contract(&instance.base_url, upstream, self.plan.spawned);
        let verification = rt.block_on(crate::interrupt::unless_signalled(checks))?;
        let cases = verification.cases;
        let (passed, failed) = (verification.passed, verification.failures.len());
        journal.target_mut(self.idx).verification = Some(verification);
        journal.save()?;
        if let Some(r) = instance.running.as_mut() {
            r.check_alive()?;
        }
        let names: Vec<&str> = journal
            .target(self.idx)
            .verification
            .iter()
            .flat_map(|v| &v.failures)
            .map(|f| f.case.as_str())
            .take(8)
            .collect();
        anyhow::ensure!(passed, "failed verification: {failed} of {cases} cases ({})", names.join(", "));
        progress.line(&format!("{}: verified ({cases} cases)", self.name));
        if self.plan.hostile {
            crate::interrupt::at_step("robustness", None);
            let (pid, log) = instance.running.as_ref().map(|r| (r.pid, r.stderr_log.clone())).unzip();
            let opts = crate::hostile::Options::default();
            let r = crate::hostile::measure(&instance.base_url, pid, log.as_deref(), &opts)?;
            let mut findings = r.verdict();
            findings.extend(r.slow_client_findings());
            let summary = if findings.is_empty() { "robust".to_owned() } else { findings.join("; ") };
            progress.line(&format!("{}: hostile corpus {}/{}: {summary}", self.name, r.passed, r.cases));
            journal.target_mut(self.idx).robustness = Some(r);
            journal.save()?;
            if let Some(r) = instance.running.as_mut() {
                r.check_alive()?;
            }
        }
        Ok(())
    }

    /// An OpenAI-compatible `--url` server: its OpenAI part verified (`workload::chat::verify`),
    /// its model and, with `--pid`, the CPUs it may run on recorded.
    fn verify_openai(
        &mut self,
        cfg: &RunConfig,
        rt: &tokio::runtime::Runtime,
        progress: &crate::progress::Progress,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(!self.plan.hostile, "--hostile checks our contract; it does not apply to --api openai");
        let instance = self.live.as_ref().expect("an instance is up");
        let model = cfg.profile.workloads.chat.model.clone();
        crate::interrupt::at_step("verifying", None);
        let verification =
            rt.block_on(crate::interrupt::unless_signalled(crate::workload::chat::verify(&instance.base_url, &model)))?;
        let (passed, failures) = (verification.passed, verification.failures.clone());
        let tr = journal.target_mut(self.idx);
        tr.verification = Some(verification);
        tr.model = Some(model.clone());
        if let Some(pid) = instance.external_pid {
            tr.server_affinity = crate::target::affinity(pid);
        }
        journal.save()?;
        let why: Vec<String> = failures.iter().map(|f| format!("{}: {}", f.case, f.reasons.join("; "))).collect();
        anyhow::ensure!(passed, "failed the OpenAI verification: {}", why.join(" | "));
        progress.line(&format!("{}: the OpenAI part verified (model {model})", self.name));
        Ok(())
    }

    /// The build (once per run for a shared build), its own-package build time, and the
    /// cost figures read off the workspace.
    fn build(
        &mut self,
        cfg: &RunConfig,
        progress: &crate::progress::Progress,
        built: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let Some(m) = self.manifest().cloned() else { return Ok(()) };
        // `harness ab`'s base runs its commands in its worktree.
        let root = m.root.clone().unwrap_or_else(|| cfg.root.clone());
        let key = format!("{} in {}", m.build, root.display());
        if self.plan.build.is_some() && !built.contains(&key) {
            crate::interrupt::at_step("building", None);
            progress.line(&format!("{}: building: {}", m.name, m.build));
            let log = cfg.out_dir.join(format!("{}.build.log", m.name));
            target::build(&m, &root, &log)?;
            built.push(key);
            if let Some(pkg) = crate::cost::cargo_package(&m).filter(|_| self.cost.build_s.is_none()) {
                match crate::cost::own_package_build(&m, &root, &pkg, &log) {
                    Ok(secs) => {
                        self.cost.build_s = Some(secs);
                        self.cost.build_kind = Some("incremental".into());
                    }
                    Err(e) => crate::errln!("{}: own-package build time not measured: {e:#}", m.name),
                }
            }
        }
        measure_static_cost(&m, &root, &mut self.cost);
        Ok(())
    }

    /// Cold starts until there are enough for the startup median.
    fn cold_starts(&mut self, cfg: &RunConfig, workers: usize, journal: &mut Journal) -> anyhow::Result<()> {
        let Some(m) = self.manifest().cloned() else { return Ok(()) };
        crate::interrupt::at_step("startup runs", None);
        while self.cost.startup_runs_ms.len() < self.plan.startup_runs {
            let mut extra = start(cfg, &m, workers, &mut self.cost)?;
            if let Some(mut r) = extra.running.take() {
                r.stop();
            }
        }
        journal.target_mut(self.idx).cost = Some(self.cost.clone());
        Ok(())
    }
}

/// Binary size, dependency count and lines of code: read off the workspace, not measured.
fn measure_static_cost(m: &Manifest, root: &Path, cost: &mut crate::results::Cost) {
    cost.loc = Some(crate::cost::lines_of_code(&m.dir, &m.language));
    if crate::python::is_python(m) {
        match crate::python::dependency_closure(root, &m.python_requires) {
            Ok(c) => {
                cost.install_bytes = Some(c.bytes);
                cost.dependency_count = Some(c.distributions.len());
                cost.dependency_kind = Some("python packages".into());
            }
            Err(e) => crate::errln!("{}: dependency closure not measured: {e}", m.name),
        }
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

/// What one target's step needs: the run, and that target's server.
struct Ctx<'a> {
    cfg: &'a RunConfig,
    progress: &'a crate::progress::Progress,
    rt: &'a tokio::runtime::Runtime,
    sampler: &'a Sampler,
    base_url: &'a str,
    calibrate_work: bool,
}

/// What every workload of the interleaved part shares.
struct Interleave<'a> {
    cfg: &'a RunConfig,
    rt: &'a tokio::runtime::Runtime,
    progress: &'a crate::progress::Progress,
    workers: usize,
    seed: u64,
    eta: &'a Eta,
    /// Calibrate infer-cpu's `work` on each target (the run seeded it); false when the
    /// caller fixed `work`.
    calibrate_work: bool,
    /// Seconds left for extra rounds in this run.
    extra_left: std::cell::Cell<f64>,
}

/// Whether a point's throughput interval over its rounds is wider than
/// [`stats::WIDE_INTERVAL`] of its median: another round may narrow it.
fn interval_is_wide(repeats: &[Repeat]) -> bool {
    let t: Vec<f64> = repeats.iter().map(|r| r.throughput_rps).collect();
    stats::summarize(&t).is_some_and(|s| s.is_wide())
}

/// One target's state through one workload: its `work`, payloads, closed-loop maximum
/// (the basis of fractional rates) and idle probe baseline.
struct WorkloadState {
    cpu_work: Option<u64>,
    payloads: Option<PayloadSet>,
    closed_max: Option<f64>,
    idle: Option<Baseline>,
}

/// The rounds of one point on one target, as they come in (measured or from the journal).
struct Acc {
    mode: Mode,
    basis: Option<String>,
    repeats: Vec<Repeat>,
    latency: hdrhistogram::Histogram<u64>,
    send_lag: hdrhistogram::Histogram<u64>,
    overhead: hdrhistogram::Histogram<u64>,
    stream: Option<driver::StreamRecorder>,
    chat: Option<driver::ChatRecorder>,
    probe: Option<(hdrhistogram::Histogram<u64>, u64, u64)>,
    from_journal: bool,
    measured_now: bool,
}

impl Acc {
    fn new(mode: Mode, basis: Option<String>) -> Self {
        let r = driver::Recorder::default();
        Acc {
            mode,
            basis,
            repeats: Vec::new(),
            latency: r.latency_us,
            send_lag: r.send_lag_us,
            overhead: r.overhead_us,
            stream: None,
            chat: None,
            probe: None,
            from_journal: false,
            measured_now: false,
        }
    }

    fn add(&mut self, data: &RoundData) {
        let RoundData::Window { repeat, latency, send_lag, overhead, stream, probe, chat } = data else { return };
        if let Some(c) = chat {
            c.add_to(self.chat.get_or_insert_with(driver::ChatRecorder::default));
        }
        latency.add_to(&mut self.latency);
        send_lag.add_to(&mut self.send_lag);
        overhead.add_to(&mut self.overhead);
        if let Some(s) = stream {
            let acc = self.stream.get_or_insert_with(driver::StreamRecorder::default);
            s.ttft.add_to(&mut acc.ttft_us);
            s.itl.add_to(&mut acc.itl_us);
            s.tpot.add_to(&mut acc.tpot_us);
            acc.tokens += s.tokens;
            acc.streams_complete += s.streams_complete;
            acc.streams_incomplete += s.streams_incomplete;
        }
        if let Some(p) = probe {
            let acc = self.probe.get_or_insert_with(|| (driver::Recorder::default().latency_us, 0, 0));
            p.latency.add_to(&mut acc.0);
            acc.1 += p.responses;
            acc.2 += p.errors.total();
        }
        self.repeats.push((**repeat).clone());
    }
}

impl Interleave<'_> {
    /// Workload `wi` of the plan on every active target at once: a fresh server each, then
    /// each step in plan order; a point's rounds interleaved across the targets.
    fn workload(&self, slots: &mut [Slot], wi: usize, journal: &mut Journal) -> anyhow::Result<()> {
        let Some(first) = slots.iter().find(|s| s.active) else { return Ok(()) };
        let wp = first.plan.workloads[wi].clone();
        let w = wp.workload;
        let spec = crate::workload::spec(w);
        let p = &self.cfg.profile;
        if spec.needs_cpu_work() {
            self.cfg.cpu_work.with_context(|| format!("{w} needs a seed `work` (RunConfig::cpu_work)"))?;
        }
        // Who takes part: active targets with a step of this workload still to run.
        let part: Vec<usize> =
            (0..slots.len()).filter(|&k| slots[k].active && !self.workload_done(&slots[k], &wp, journal)).collect();
        if part.is_empty() {
            return Ok(());
        }
        // Every workload runs on freshly started servers, so that its memory figures do not
        // depend on what ran before (an allocator keeps what earlier loads grew). A --url
        // target cannot be restarted.
        for &k in &part {
            let slot = &mut slots[k];
            slot.stop(journal);
            crate::interrupt::at_target(&slot.name);
            crate::interrupt::at_step("starting", None);
            match slot.open(self.cfg, self.workers) {
                Ok(i) => slot.live = Some(i),
                Err(e) => {
                    if crate::interrupt::claim() {
                        return Ok(());
                    }
                    slot.fail(journal, self.progress, &e)?;
                }
            }
        }
        let mut states: std::collections::BTreeMap<usize, WorkloadState> = part
            .iter()
            .map(|&k| {
                let tr = journal.target(slots[k].idx);
                let cpu_work = tr.cpu_calibration.as_ref().map(|c| c.work).or(self.cfg.cpu_work);
                let closed_max = tr
                    .points
                    .iter()
                    .filter(|pt| pt.workload == w && pt.mode == crate::results::PointMode::Closed)
                    .map(|pt| pt.summary.throughput_rps.median)
                    .reduce(f64::max);
                (k, WorkloadState { cpu_work, payloads: spec.payloads(p, cpu_work), closed_max, idle: None })
            })
            .collect();
        for (si, step) in wp.steps.iter().enumerate() {
            let active: Vec<usize> = part.iter().copied().filter(|&k| slots[k].active).collect();
            match step {
                Step::Point(pt) => self.point(slots, &active, &mut states, w, si, pt, journal)?,
                _ => {
                    let order = round_order(&active, self.seed, w, si, 1);
                    self.record_order(journal, slots, &order, w, si, 1, step_label(step, w))?;
                    let pids: Vec<i32> =
                        active.iter().filter_map(|&k| slots[k].live.as_ref().and_then(Instance::pid)).collect();
                    for k in order {
                        let st = states.get_mut(&k).expect("a state per target");
                        let outcome = self.other_step(&mut slots[k], st, step, w, si, &pids, journal);
                        self.settle(&mut slots[k], outcome, journal)?;
                    }
                }
            }
            self.eta_line(step, active.len());
            if crate::interrupt::claim() {
                return Ok(());
            }
        }
        for &k in &part {
            let slot = &mut slots[k];
            if !slot.active {
                continue;
            }
            // A server that died is the reason, whatever error its absence caused.
            let alive = slot
                .live
                .as_mut()
                .and_then(|i| i.running.as_mut())
                .map(|r| r.check_alive().map_err(anyhow::Error::from));
            match alive {
                Some(Err(e)) => slot.fail(journal, self.progress, &e)?,
                _ => slot.stop(journal),
            }
        }
        journal.save()
    }

    /// What one target's step needs: the run's parts and that target's server and sampler.
    fn ctx<'s>(&'s self, sampler: &'s Sampler, base_url: &'s str) -> Ctx<'s> {
        Ctx {
            cfg: self.cfg,
            progress: self.progress,
            rt: self.rt,
            sampler,
            base_url,
            calibrate_work: self.calibrate_work,
        }
    }

    /// Prints the time left after a step that ran on `targets` targets.
    fn eta_line(&self, step: &Step, targets: usize) {
        let eta = self.eta.advance(crate::plan::step_seconds(step) * targets as f64);
        self.progress.point("", &eta, 0.0, 0);
        if !self.progress.is_bar() {
            self.progress.line(&format!("harness: {eta}"));
        }
    }

    /// Whether `slot` has every step of `wp` recorded (a resumed run skips it).
    fn workload_done(&self, slot: &Slot, wp: &crate::plan::WorkloadPlan, journal: &Journal) -> bool {
        let tr = journal.target(slot.idx);
        let points = wp.steps.iter().filter(|s| matches!(s, Step::Point(_) | Step::Goose { .. })).count();
        tr.points.iter().filter(|pt| pt.workload == wp.workload).count() >= points
    }

    /// The record of a round's order.
    #[allow(clippy::too_many_arguments)]
    fn record_order(
        &self,
        journal: &mut Journal,
        slots: &[Slot],
        order: &[usize],
        w: Workload,
        step: usize,
        round: usize,
        label: String,
    ) -> anyhow::Result<()> {
        let targets = order.iter().map(|&k| slots[k].name.clone()).collect();
        journal.record_order(RoundOrder { workload: w, step, label, round, targets })
    }

    /// A target's step ended: an error fails the target (the others go on), unless a
    /// signal caused it.
    fn settle(&self, slot: &mut Slot, outcome: anyhow::Result<()>, journal: &mut Journal) -> anyhow::Result<()> {
        let Err(e) = outcome else { return Ok(()) };
        if crate::interrupt::claim() {
            return Ok(());
        }
        // A server that died is the reason, whatever error its absence caused.
        let dead = slot
            .live
            .as_mut()
            .and_then(|i| i.running.as_mut())
            .and_then(|r| r.check_alive().err().map(anyhow::Error::from));
        let e = dead.unwrap_or(e);
        slot.fail(journal, self.progress, &e)
    }

    /// A step that is not a point: `work`'s calibration, the probe's idle baseline, goose.
    #[allow(clippy::too_many_arguments)]
    fn other_step(
        &self,
        slot: &mut Slot,
        st: &mut WorkloadState,
        step: &Step,
        w: Workload,
        si: usize,
        neighbours: &[i32],
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        if crate::interrupt::claim() {
            return Ok(());
        }
        let p = &self.cfg.profile;
        crate::interrupt::at_target(&slot.name);
        let instance = slot.live.as_ref().context("no server is up")?;
        let sampler = Sampler::start(instance.pid());
        let ctx = self.ctx(&sampler, &instance.base_url);
        match step {
            Step::CalibrateWork { target_ms, calibration } => {
                if journal.target(slot.idx).cpu_calibration.is_some() {
                    return Ok(());
                }
                let seed = st.cpu_work.with_context(|| format!("{w} needs a seed `work`"))?;
                let cal = calibrate_work(&ctx, &slot.name, seed, *target_ms, calibration)?;
                st.cpu_work = Some(cal.work);
                st.payloads = crate::workload::spec(w).payloads(p, st.cpu_work);
                journal.target_mut(slot.idx).cpu_calibration = Some(cal);
                journal.save()
            }
            Step::ProbeBaseline { rate_rps, window } => {
                if let Some(RoundData::Baseline { plain, awake }) =
                    journal.round(&slot.name, w, si, 1).map(|r| r.data.clone())
                {
                    st.idle = Some(Baseline::from_hists(&plain, awake.as_ref()));
                    return Ok(());
                }
                let b = probe_baseline(&ctx, *rate_rps, window)?;
                let data = RoundData::Baseline { plain: Hist::of(&b.plain), awake: b.awake.as_ref().map(Hist::of) };
                journal.record_round(RoundRecord {
                    target: slot.name.clone(),
                    workload: w,
                    step: si,
                    round: 1,
                    data,
                })?;
                st.idle = Some(b);
                Ok(())
            }
            Step::Goose { .. } => {
                if journal.target(slot.idx).points.iter().any(|pt| pt.workload == w) {
                    return Ok(());
                }
                crate::interrupt::at_step("measuring", Some(w.name().to_owned()));
                let out =
                    crate::workload::mixed::Output { dir: &self.cfg.out_dir, client_cpus: self.cfg.client_cpus.len() };
                let own = instance.pid();
                let others: Vec<i32> = neighbours.iter().copied().filter(|&p| Some(p) != own).collect();
                let neighbours = Neighbours::now(&others);
                let mut point = crate::workload::mixed::run(p, out, self.rt, &sampler, &instance.base_url, &slot.name)?;
                analysis::with_neighbour_cpu(&mut point, neighbours.cores());
                push_point(self.progress, journal, slot.idx, point)
            }
            Step::Point(_) => unreachable!("points are measured in rounds"),
        }
    }

    /// One point: its rounds, each on every target in that round's order; then each
    /// target's point from its rounds.
    #[allow(clippy::too_many_arguments)]
    fn point(
        &self,
        slots: &mut [Slot],
        active: &[usize],
        states: &mut std::collections::BTreeMap<usize, WorkloadState>,
        w: Workload,
        si: usize,
        pt: &crate::plan::PointPlan,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        let spec = crate::workload::spec(w);
        // Each target's mode (its rates resolved from its own closed-loop points).
        let mut accs: std::collections::BTreeMap<usize, Acc> = std::collections::BTreeMap::new();
        for &k in active {
            let st = &states[&k];
            let resolved = match pt.mode {
                PlannedMode::Closed { .. } => Ok((None, None)),
                PlannedMode::Open { rate, .. } => rate.resolve(st.closed_max).map(|(r, b)| (Some(r), Some(b))),
            };
            match resolved {
                Ok((rate, basis)) => {
                    let mode = pt.mode.to_mode(rate);
                    let key = crate::results::PointKey::of(&analysis::point(
                        w,
                        mode,
                        basis.clone(),
                        Vec::new(),
                        Latency::default(),
                    ));
                    if !journal.has_point(&slots[k].name, &key) {
                        accs.insert(k, Acc::new(mode, basis));
                    }
                }
                Err(e) => self.settle(&mut slots[k], Err(e), journal)?,
            }
        }
        for round in 1..=pt.window.repeats {
            let running: Vec<usize> = accs.keys().copied().filter(|&k| slots[k].active).collect();
            self.round(slots, &mut accs, &running, states, w, si, pt, round, journal)?;
            if crate::interrupt::claim() {
                return Ok(());
            }
        }
        // Extra rounds for the targets whose interval is still wide, within the run's
        // allowance for them (docs/methodology.md, "Repeats that decide").
        let extra = self.cfg.profile.extra_rounds;
        for round in pt.window.repeats + 1..=pt.window.repeats + extra {
            let wide: Vec<usize> = accs
                .iter()
                .filter(|(k, a)| slots[**k].active && a.repeats.len() + 1 == round && interval_is_wide(&a.repeats))
                .map(|(k, _)| *k)
                .collect();
            let cost = (pt.window.warmup + pt.window.duration).as_secs_f64() * wide.len() as f64;
            if wide.is_empty() || cost > self.extra_left.get() {
                break;
            }
            self.extra_left.set(self.extra_left.get() - cost);
            self.round(slots, &mut accs, &wide, states, w, si, pt, round, journal)?;
            if crate::interrupt::claim() {
                return Ok(());
            }
        }
        let p = &self.cfg.profile;
        for (k, acc) in accs {
            let slot = &mut slots[k];
            if !slot.active || acc.repeats.len() < pt.window.repeats {
                continue;
            }
            let st = states.get_mut(&k).expect("a state per target");
            let Some(payloads) = st.payloads.as_ref() else { continue };
            let outcome = (|| -> anyhow::Result<()> {
                let resumed = acc.from_journal && acc.measured_now;
                let mut point = finish_point(w, payloads, acc.mode, acc.basis.clone(), acc.repeats.clone(), &acc);
                point.resumed = resumed;
                if let PlannedMode::Closed { .. } = pt.mode {
                    st.closed_max = Some(st.closed_max.unwrap_or(0.0).max(point.summary.throughput_rps.median));
                }
                spec.derive(p, &mut point);
                point.summary.objectives = analysis::objectives(&point, &p.slo);
                // A --url server given by --pid was not pinned: on the client CPUs it and the
                // driver took each other's time (docs/methodology.md, "Measuring a running server").
                let affinity = &journal.target(slot.idx).server_affinity;
                if !slot.plan.spawned
                    && affinity.iter().any(|c| self.cfg.client_cpus.contains(c))
                    && !point.summary.flags.contains(&crate::results::Flag::ClientBound)
                {
                    point.summary.flags.push(crate::results::Flag::ClientBound);
                }
                if let Some((latency, responses, errors)) = &acc.probe {
                    let idle = st.idle.as_ref().context("a probe point needs its idle baseline first")?;
                    attach_probe(
                        &mut point,
                        latency,
                        *responses,
                        *errors,
                        idle,
                        st.cpu_work.unwrap_or(0),
                        pt.probe_rps.unwrap_or(0.0),
                    );
                }
                push_point(self.progress, journal, slot.idx, point)
            })();
            self.settle(slot, outcome, journal)?;
        }
        Ok(())
    }

    /// Round `round` of point `pt` on `running`, in that round's order: each window
    /// measured (or, resumed, taken from the journal) and recorded.
    #[allow(clippy::too_many_arguments)]
    fn round(
        &self,
        slots: &mut [Slot],
        accs: &mut std::collections::BTreeMap<usize, Acc>,
        running: &[usize],
        states: &std::collections::BTreeMap<usize, WorkloadState>,
        w: Workload,
        si: usize,
        pt: &crate::plan::PointPlan,
        round: usize,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        let order = round_order(&running, self.seed, w, si, round);
        let label = point_label(w, pt.mode.to_mode(Some(0.0)));
        self.record_order(journal, slots, &order, w, si, round, label)?;
        let pids: Vec<i32> = running.iter().filter_map(|&k| slots[k].live.as_ref().and_then(Instance::pid)).collect();
        for k in order {
            if crate::interrupt::claim() {
                return Ok(());
            }
            let slot = &mut slots[k];
            if !slot.active {
                continue;
            }
            let acc = accs.get_mut(&k).expect("an accumulator per target");
            if let Some(rec) = journal.round(&slot.name, w, si, round) {
                acc.add(&rec.data);
                acc.from_journal = true;
                continue;
            }
            let st = &states[&k];
            let outcome = (|| -> anyhow::Result<()> {
                let payloads = st.payloads.as_ref().with_context(|| format!("{w} has no payloads"))?;
                let instance = slot.live.as_ref().context("no server is up")?;
                let own = instance.pid();
                let neighbours: Vec<i32> = pids.iter().copied().filter(|&p| Some(p) != own).collect();
                let sampler = Sampler::start(own);
                let ctx = self.ctx(&sampler, &instance.base_url);
                crate::interrupt::at_target(&slot.name);
                crate::interrupt::at_step("measuring", Some(point_label(w, acc.mode)));
                crate::interrupt::at_repeat(round, pt.window.repeats);
                let mut data = measure_round(&ctx, payloads, acc.mode, &pt.window, pt.probe_rps, &neighbours)?;
                if let RoundData::Window { repeat, .. } = &mut data {
                    repeat.round = Some(round);
                }
                acc.add(&data);
                acc.measured_now = true;
                journal.record_round(RoundRecord { target: slot.name.clone(), workload: w, step: si, round, data })
            })();
            self.settle(slot, outcome, journal)?;
        }
        Ok(())
    }
}

/// The other servers' CPU from a start: read off their process trees.
struct Neighbours {
    pids: Vec<i32>,
    start: Instant,
    cpu_s: f64,
}

impl Neighbours {
    fn now(pids: &[i32]) -> Self {
        Neighbours { pids: pids.to_vec(), start: Instant::now(), cpu_s: Self::cpu(pids) }
    }

    fn cpu(pids: &[i32]) -> f64 {
        pids.iter().flat_map(|&p| crate::sampler::process_tree(p)).filter_map(crate::sampler::cpu_seconds).sum()
    }

    /// Their CPU since the start, in cores; `None` without neighbours.
    fn cores(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        let wall = self.start.elapsed().as_secs_f64();
        (wall > 0.0).then(|| ((Self::cpu(&self.pids) - self.cpu_s) / wall).max(0.0))
    }
}

/// How the order record names a step that is not a point.
fn step_label(step: &Step, w: Workload) -> String {
    match step {
        Step::CalibrateWork { .. } => format!("{w} calibration of `work`"),
        Step::ProbeBaseline { .. } => format!("{w} probe idle baseline"),
        Step::Goose { users, .. } => format!("{w} goose {users} users"),
        Step::Point(pt) => crate::plan::point_label(w, &pt.mode),
    }
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

impl Baseline {
    /// The baselines as the journal recorded them.
    fn from_hists(plain: &Hist, awake: Option<&Hist>) -> Self {
        let empty = || driver::Recorder::default().latency_us;
        let mut b = Baseline { plain: empty(), awake: awake.map(|_| empty()) };
        plain.add_to(&mut b.plain);
        if let (Some(h), Some(a)) = (awake, b.awake.as_mut()) {
            h.add_to(a);
        }
        b
    }
}

/// The probe's figures beside an infer-cpu point; a failed probe flags the point `errors`.
fn attach_probe(
    point: &mut Point,
    latency: &hdrhistogram::Histogram<u64>,
    responses: u64,
    errors: u64,
    idle: &Baseline,
    work: u64,
    rate_rps: f64,
) {
    point.summary.probe = Some(ProbeSummary {
        work,
        rate_rps,
        loaded_us: Latency::of(latency),
        idle_us: Latency::of(&idle.plain),
        awake_us: idle.awake.as_ref().map(Latency::of),
        probe_requests: responses,
        probe_errors: errors,
    });
    if errors > 0 && !point.summary.flags.contains(&crate::results::Flag::Errors) {
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

/// One measured window (a round of a point on one target) after its own warm-up, as the
/// journal records it; with `probe_rps`, the `/health` probe runs beside the load. The
/// other targets' servers (`neighbours`) are read before and after: their CPU is the
/// window's `neighbour_cpu`.
fn measure_round(
    ctx: &Ctx,
    payloads: &PayloadSet,
    mode: Mode,
    window: &Window,
    probe_rps: Option<f64>,
    neighbours: &[i32],
) -> anyhow::Result<RoundData> {
    let (rt, base_url) = (ctx.rt, ctx.base_url);
    let spec = LoadSpec {
        mode,
        warmup: window.warmup,
        stop: Stop::Duration(window.duration),
        request_timeout: REQUEST_TIMEOUT,
    };
    let others = Neighbours::now(neighbours);
    let (r, probe) = match probe_rps {
        None => (rt.block_on(driver::run(base_url, payloads.clone(), spec))?, None),
        Some(rate) => {
            let (r, pr) = rt.block_on(crate::probe::run_with_probe(base_url, payloads.clone(), spec, rate))?;
            let p = &pr.recorded;
            (
                r,
                Some(ProbeHists {
                    latency: Hist::of(&p.latency_us),
                    responses: p.responses(),
                    errors: p.errors.clone(),
                }),
            )
        }
    };
    let mut repeat = repeat_of(ctx, &r, mode);
    repeat.neighbour_cpu = others.cores();
    let rec = &r.recorded;
    Ok(RoundData::Window {
        repeat: Box::new(repeat),
        latency: Hist::of(&rec.latency_us),
        send_lag: Hist::of(&rec.send_lag_us),
        overhead: Hist::of(&rec.overhead_us),
        stream: rec.stream.as_ref().map(|s| StreamHists {
            ttft: Hist::of(&s.ttft_us),
            itl: Hist::of(&s.itl_us),
            tpot: Hist::of(&s.tpot_us),
            tokens: s.tokens,
            streams_complete: s.streams_complete,
            streams_incomplete: s.streams_incomplete,
        }),
        probe,
        chat: rec.chat.as_ref().map(crate::journal::ChatHists::of),
    })
}

/// A point from its rounds: the repeats' figures, the merged histograms' percentiles.
fn finish_point(
    workload: Workload,
    payloads: &PayloadSet,
    mode: Mode,
    rate_basis: Option<String>,
    repeats: Vec<Repeat>,
    acc: &Acc,
) -> Point {
    let delay = payloads.entries.first().and_then(|e| e.stream.as_ref()).map_or(0, |s| s.token_delay_ms);
    let mut point = analysis::point(workload, mode, rate_basis, repeats, Latency::of(&acc.latency));
    point.summary.overhead_us = (!payloads.exchange_floor.is_zero()).then(|| Latency::of(&acc.overhead));
    match mode {
        Mode::Closed { .. } => {
            point.summary.held_concurrency =
                analysis::held_concurrency(point.summary.throughput_rps.median, payloads.exchange_floor);
        }
        Mode::Open { .. } => analysis::with_send_lag(&mut point, Latency::of(&acc.send_lag)),
    }
    point.summary.streaming = acc.stream.as_ref().map(|s| analysis::stream_summary(s, delay, &point.repeats));
    point.summary.chat =
        acc.chat.as_ref().map(|c| analysis::chat_summary(c, &point.repeats, payloads.chat_limits.describe()));
    point
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
        due_in_window: r.due_in_window,
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
        round: None,
        neighbour_cpu: None,
        chat: r.recorded.chat.as_ref().map(|c| {
            analysis::chat_repeat(
                c,
                r.window().as_secs_f64(),
                throughput,
                !crate::slo::ChatLimits::of(&ctx.cfg.profile.slo).is_empty(),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each round's order is a permutation of the targets, the same for the same seed and
    /// place (a resumed run re-derives it), and not the same order in every round.
    #[test]
    fn round_orders_are_seeded_permutations_that_vary_by_round() {
        let targets: Vec<usize> = (0..8).collect();
        let a = round_order(&targets, 42, Workload::Predict, 1, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, targets);
        assert_eq!(a, round_order(&targets, 42, Workload::Predict, 1, 1));
        let orders: std::collections::BTreeSet<Vec<usize>> =
            (1..=5).map(|r| round_order(&targets, 42, Workload::Predict, 1, r)).collect();
        assert!(orders.len() >= 4, "{orders:?}");
        assert_ne!(a, round_order(&targets, 43, Workload::Predict, 1, 1));
        // Over many rounds every target runs first about equally often.
        let mut first = [0usize; 8];
        for r in 1..=800 {
            first[round_order(&targets, 7, Workload::Health, 0, r)[0]] += 1;
        }
        assert!(first.iter().all(|&n| (60..=140).contains(&n)), "{first:?}");
    }
}
