//! The plan: every step a run will take, as data, built from the configuration before
//! anything runs. The orchestrator (`run`) executes it in order; `harness run --dry-run`
//! prints it. A value that depends on an earlier step is stated as that dependency, not
//! guessed: predict's open-loop rates at a fraction of the target's own closed-loop maximum
//! say so ([`Rate::OfClosedMax`]) and are resolved when the closed-loop points are measured.
//!
//! The plan is the unit that later work reorders (interleaved rounds) and skips (resume
//! from a journal): a point is identified by its target, workload and position in
//! [`WorkloadPlan::steps`].

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::manifest::Manifest;
use crate::results::TargetResult;
pub use crate::workload::{PlannedMode, PointPlan, Profile, REQUEST_TIMEOUT, Rate, SEED, Step, Window, Workload};

#[derive(Debug, Clone)]
pub enum TargetSource {
    Manifest(Manifest),
    /// An already-running service: verified, then measured; never built or spawned.
    Url {
        name: String,
        base_url: String,
        /// The API it speaks (what verifies it, which workloads it runs).
        api: crate::results::Api,
        /// Its process, when given: its tree's CPU and memory are sampled.
        pid: Option<i32>,
    },
    /// The gateway's upstream measured straight (`upstream-direct`): a mock model server
    /// the harness starts on the client CPUs, as every gateway target's own, with only
    /// `chat` run on it; the baseline of the gateway overheads.
    Upstream,
}

pub use crate::results::UPSTREAM_DIRECT;

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
    /// The seed of the round order (`--seed`); a fresh one, recorded, when `None`.
    pub seed: Option<u64>,
    /// The command line, machine and code, recorded for `--resume`.
    pub invocation: Option<crate::results::Invocation>,
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
            overhead_over: m.overhead_over.clone(),
            ..TargetResult::default()
        },
        TargetSource::Url { name, base_url, api, pid } => TargetResult {
            name: name.clone(),
            language: "unknown".into(),
            display_name: name.clone(),
            framework_version: "unknown".into(),
            server_setup: match pid {
                Some(pid) => format!(
                    "already running at {base_url}; not spawned or pinned by the harness; CPU and memory sampled \
                     from process {pid} and its children"
                ),
                None => format!(
                    "already running at {base_url}; not spawned or pinned by the harness; CPU and memory not \
                     sampled (no --pid)"
                ),
            },
            api: *api,
            ..TargetResult::default()
        },
        TargetSource::Upstream => TargetResult {
            name: UPSTREAM_DIRECT.into(),
            language: "mock".into(),
            display_name: "upstream (direct)".into(),
            framework_version: mock_llm::VERSION.into(),
            server_setup: format!(
                "tools/mock-llm in the harness's process on the client CPUs (TTFT {} ms, then one token every {} ms):                  the gateways' upstream asked straight, with no gateway between; its CPU is the client's",
                workloads::conformance::GATEWAY_MOCK_TTFT_MS,
                workloads::conformance::GATEWAY_MOCK_ITL_MS
            ),
            api: crate::results::Api::Openai,
            ..TargetResult::default()
        },
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: Profile,
    /// infer-cpu's `work` is calibrated once at the start of the run when this is set: the
    /// server CPU time one request should cost, in ms.
    pub calibrate_cpu_ms: Option<f64>,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    pub workers: usize,
    pub targets: Vec<TargetPlan>,
}

#[derive(Debug, Clone)]
pub struct TargetPlan {
    pub name: String,
    /// The build command, when the run builds (shared builds run once per run).
    pub build: Option<String>,
    /// A manifest target gets a fresh server for verification and for each workload; a
    /// `--url` target is one running service.
    pub spawned: bool,
    /// The hostile checks after verification (`--hostile`).
    pub hostile: bool,
    pub workloads: Vec<WorkloadPlan>,
    /// Cold starts in all (the instances above count), for the startup median.
    pub startup_runs: usize,
}

#[derive(Debug, Clone)]
pub struct WorkloadPlan {
    pub workload: Workload,
    pub steps: Vec<Step>,
}

/// The plan of `cfg`: targets × workloads, in the order they run.
pub fn build(cfg: &RunConfig) -> Plan {
    let p = &cfg.profile;
    let workloads: Vec<WorkloadPlan> = cfg.workloads.iter().map(|&w| workload_plan(w, p)).collect();
    let calibrate = cfg.workloads.iter().any(|&w| crate::workload::spec(w).needs_cpu_work());
    let targets = cfg
        .targets
        .iter()
        .map(|source| match source {
            TargetSource::Manifest(m) => TargetPlan {
                name: m.name.clone(),
                build: cfg.build.then(|| m.build.clone()),
                spawned: true,
                hostile: cfg.hostile,
                workloads: workloads.clone(),
                startup_runs: p.startup_runs,
            },
            TargetSource::Url { name, .. } => TargetPlan {
                name: name.clone(),
                build: None,
                spawned: false,
                hostile: cfg.hostile,
                workloads: workloads.clone(),
                startup_runs: 0,
            },
            TargetSource::Upstream => TargetPlan {
                name: UPSTREAM_DIRECT.into(),
                build: None,
                spawned: false,
                hostile: false,
                workloads: workloads.iter().filter(|w| w.workload == Workload::Chat).cloned().collect(),
                startup_runs: 0,
            },
        })
        .collect();
    Plan {
        profile: p.clone(),
        calibrate_cpu_ms: (calibrate && cfg.cpu_work.is_none()).then_some(p.workloads.infer_cpu.cpu_target_ms),
        server_cpus: cfg.server_cpus.clone(),
        client_cpus: cfg.client_cpus.clone(),
        workers: cfg.workers.unwrap_or(cfg.server_cpus.len().max(1)),
        targets,
    }
}

/// The seconds a step's windows take as planned: each repeat's warm-up and window, at
/// most `max_trials` calibration trials, the probe baselines, goose's ramp-up (about 2 s)
/// and run.
pub fn step_seconds(step: &Step) -> f64 {
    match step {
        Step::Point(pt) => (pt.window.warmup + pt.window.duration).as_secs_f64() * pt.window.repeats as f64,
        Step::CalibrateWork { calibration: c, .. } => (c.warmup + c.window).as_secs_f64() * c.max_trials as f64,
        Step::ProbeBaseline { window, .. } => crate::workload::infer_cpu::baseline_time(window).as_secs_f64(),
        Step::Goose { duration, .. } => 2.0 + duration.as_secs_f64(),
    }
}

/// Seconds of start-ups, verification and shutdowns per target beyond its windows
/// (measured: a quick run of the four Rust targets took about 5 s per target above its
/// windows; 10 s leaves room for the Python targets' slower starts).
pub const PER_TARGET_OVERHEAD_S: f64 = 10.0;

/// The plan's planned seconds: every step's windows on every target, and each target's
/// [`PER_TARGET_OVERHEAD_S`].
pub fn planned_seconds(plan: &Plan) -> f64 {
    plan.targets
        .iter()
        .map(|t| PER_TARGET_OVERHEAD_S + t.workloads.iter().flat_map(|w| &w.steps).map(step_seconds).sum::<f64>())
        .sum()
}

/// One workload's steps under profile `p` (its file under `workload/` says which).
pub fn workload_plan(w: Workload, p: &Profile) -> WorkloadPlan {
    WorkloadPlan { workload: w, steps: crate::workload::spec(w).steps(p) }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

impl Plan {
    /// What `harness run --dry-run` prints: every step, and what it depends on.
    pub fn render(&self) -> String {
        let p = &self.profile;
        let mut s = String::new();
        let cpus = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        let _ = writeln!(
            s,
            "plan: profile {}, {} target(s); server CPUs {}, client CPUs {}, {} worker(s)",
            serde_json::to_value(p.name).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            self.targets.len(),
            cpus(&self.server_cpus),
            cpus(&self.client_cpus),
            self.workers
        );
        let _ = writeln!(
            s,
            "order: each target alone for its build, verification and robustness; then workload by workload with \
             every target's server up, round r of each point on every target (order shuffled per round from the \
             run's seed) before round r + 1; then each target's cold starts"
        );
        if p.extra_rounds > 0 {
            let _ = writeln!(
                s,
                "extra rounds: up to {} per point for a target whose throughput interval is wider than {:.0}% of its \
                 median, within {:.0}% of the planned {:.0} s",
                p.extra_rounds,
                crate::stats::WIDE_INTERVAL * 100.0,
                p.extra_round_share * 100.0,
                planned_seconds(self)
            );
        }
        if let Some(ms) = self.calibrate_cpu_ms {
            let _ = writeln!(
                s,
                "first: seed infer-cpu `work` on the server CPUs: the shared Rust model timed to {ms} ms per request"
            );
        }
        for t in &self.targets {
            let _ = writeln!(s, "target {}", t.name);
            if let Some(b) = &t.build {
                let _ = writeln!(s, "  build: {b} (once per run for a shared build), then the cost of ownership");
            }
            let instance = if t.spawned { "a fresh instance" } else { "the running service" };
            let _ = writeln!(s, "  verify: the conformance corpus on {instance} (startup and idle RSS first)");
            if t.hostile {
                let _ = writeln!(s, "  robustness: the hostile corpus, slowloris and disconnects on that instance");
            }
            for w in &t.workloads {
                let _ = writeln!(s, "  workload {} on {instance}", w.workload.name());
                for step in &w.steps {
                    let _ = writeln!(s, "    {}", describe_step(step, w.workload));
                }
            }
            if t.spawned {
                let _ = writeln!(s, "  startup: cold starts until there are {} in all", t.startup_runs);
            }
        }
        s
    }
}

/// How the round order names a planned point: `predict closed c=64`, `predict open 0.5 x max`.
pub fn point_label(w: Workload, mode: &PlannedMode) -> String {
    match mode {
        PlannedMode::Closed { connections } => format!("{} closed c={connections}", w.name()),
        PlannedMode::Open { rate, .. } => match rate {
            Rate::Absolute(r) => format!("{} open {r} req/s", w.name()),
            Rate::StreamArrivals(r) => format!("{} open {r} streams/s", w.name()),
            Rate::OfClosedMax(f) => format!("{} open {f} x max", w.name()),
        },
    }
}

/// How the dry run names a rate's basis.
fn describe_rate(r: Rate) -> String {
    match r {
        Rate::Absolute(r) => format!("{r} req/s (absolute)"),
        Rate::StreamArrivals(r) => format!("{r} streams/s (stream arrivals)"),
        Rate::OfClosedMax(f) => format!("{f} x max of the closed points"),
    }
}

/// How the dry run states a step.
fn describe_step(step: &Step, w: Workload) -> String {
    {
        let win =
            |x: &Window| format!("warm-up {}, window {}, {} repeat(s)", secs(x.warmup), secs(x.duration), x.repeats);
        match step {
            Step::Point(pt) => {
                let mode = match pt.mode {
                    PlannedMode::Closed { connections } => format!("closed c={connections}"),
                    PlannedMode::Open { rate, max_connections, arrival } => {
                        let arrivals = match arrival {
                            crate::driver::Arrival::Gamma { shape, .. } => format!("gamma(b={shape})"),
                            crate::driver::Arrival::Constant => "constant".into(),
                            crate::driver::Arrival::Poisson { .. } => "poisson".into(),
                        };
                        format!("open c<={max_connections} {arrivals} at {}", describe_rate(rate))
                    }
                };
                let probe = pt.probe_rps.map(|r| format!(", /health probe at {r} req/s beside")).unwrap_or_default();
                format!("{} {mode}: {}{probe}", w.name(), win(&pt.window))
            }
            Step::CalibrateWork { target_ms, calibration: c } => format!(
                "{} calibrate `work`: closed c=1 trials from the seed (warm-up {}, window {}), scaled until one costs \
                 {target_ms} ms ± {:.0}% of server CPU per request, at most {}",
                w.name(),
                secs(c.warmup),
                secs(c.window),
                c.tolerance * 100.0,
                c.max_trials
            ),
            Step::ProbeBaseline { rate_rps, window } => {
                format!(
                    "{} idle probe baselines: /health at {rate_rps} req/s alone, plain and with the CPUs kept awake, \
                     {} round(s) of one window each, {} per baseline in all (first warm-up {}, then {})",
                    w.name(),
                    window.repeats,
                    secs(window.duration),
                    secs(window.warmup),
                    secs(crate::workload::infer_cpu::REWARM)
                )
            }
            Step::Goose { users, duration } => {
                format!("{} goose: {users} users for {} after ramp-up", w.name(), secs(*duration))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::workload::ProfileName;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// `harness run --dry-run --framework all --profile <p>`, in-process.
    fn dry_run(profile: &str) -> String {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["harness", "--dry-run", "--framework", "all", "--profile", profile])
            .unwrap();
        plan::build(&cli.run.to_config(root()).unwrap()).render()
    }

    use crate::plan;

    /// The plan of every profile over every target is pinned by a golden file: a change of
    /// what a run measures (a point, a window, a rate's basis) shows here as a diff. Set
    /// MLAPI_BLESS=1 to rewrite the files after an intended change.
    #[test]
    fn the_plan_of_every_profile_matches_its_golden_file() {
        if crate::python::available().is_err() {
            // Without python3 >= 3.10, `all` has no Python targets and cannot match.
            eprintln!("skipped: no python3 >= 3.10, so `--framework all` lacks the Python targets");
            return;
        }
        for profile in ["quick", "standard", "full"] {
            let path = root().join(format!("harness/tests/golden/plan-{profile}.txt"));
            let got = dry_run(profile);
            if std::env::var_os("MLAPI_BLESS").is_some() {
                std::fs::write(&path, &got).unwrap();
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(got == want, "the {profile} plan differs from {}:\n{got}", path.display());
        }
    }

    /// The plan is what the orchestrator ran before the plan existed: the committed example
    /// run (quick profile, every target) measured exactly the planned points, in order.
    #[test]
    fn the_quick_plan_is_what_the_example_run_measured() {
        let text = std::fs::read(root().join("results/example/results.json")).unwrap();
        let example: crate::results::Results = serde_json::from_slice(&text).unwrap();
        let p = example_profile(&example);
        for t in &example.targets {
            // The workloads the example ran (one added since has no points there).
            let ran: Vec<Workload> =
                Workload::ALL.iter().copied().filter(|w| t.points.iter().any(|p| p.workload == *w)).collect();
            assert!(ran.len() >= 6, "{}: {ran:?}", t.name);
            let planned: Vec<String> = ran
                .iter()
                .flat_map(|&w| {
                    workload_plan(w, &p).steps.into_iter().filter_map(move |step| match step {
                        Step::Point(pt) => Some(match pt.mode {
                            PlannedMode::Closed { connections } => {
                                format!("{} closed {connections} {}", w.name(), pt.window.repeats)
                            }
                            PlannedMode::Open { rate, max_connections, .. } => {
                                let basis = match rate {
                                    Rate::OfClosedMax(f) => format!("{f} x max"),
                                    Rate::Absolute(_) => "absolute".into(),
                                    Rate::StreamArrivals(_) => "stream arrivals".into(),
                                };
                                format!("{} open {max_connections} {} {basis}", w.name(), pt.window.repeats)
                            }
                        }),
                        Step::Goose { users, .. } => Some(format!("{} closed {users} 1", w.name())),
                        Step::ProbeBaseline { .. } | Step::CalibrateWork { .. } => None,
                    })
                })
                .collect();
            let measured: Vec<String> = t
                .points
                .iter()
                .map(|pt| {
                    let basis = pt.rate_basis.as_deref().map(|b| b.split(" (").next().unwrap_or(b).to_owned());
                    match basis {
                        Some(b) if pt.mode == crate::results::PointMode::Open => {
                            format!("{} open {} {} {b}", pt.workload, pt.connections, pt.repeats.len())
                        }
                        _ => format!("{} {} {} {}", pt.workload, pt.mode, pt.connections, pt.repeats.len()),
                    }
                })
                .collect();
            assert_eq!(planned, measured, "{}", t.name);
            // And the windows were the planned ones.
            for pt in t.points.iter().filter(|pt| pt.workload != Workload::Mixed) {
                let w = pt.workload;
                let Step::Point(first) =
                    workload_plan(w, &p).steps.into_iter().find(|s| matches!(s, Step::Point(_))).unwrap()
                else {
                    unreachable!()
                };
                for r in &pt.repeats {
                    let planned = first.window.duration.as_secs_f64();
                    assert!(
                        (r.window_s - planned).abs() < 0.05 * planned,
                        "{} {}: window {} s, planned {planned} s",
                        t.name,
                        pt.workload,
                        r.window_s
                    );
                }
            }
        }
    }

    /// The profile the example's recorded command line gives (quick, with `--repeats 5`).
    pub(crate) fn example_profile(example: &crate::results::Results) -> Profile {
        use clap::Parser;
        let args = &example.invocation.as_ref().expect("the example records its command line").args;
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("harness").chain(args.iter().map(String::as_str))).unwrap();
        let run = match cli.command {
            Some(crate::cli::Command::Run(a)) => a,
            _ => cli.run,
        };
        assert_eq!(run.profile, ProfileName::Quick, "the example is a quick run");
        run.to_config(root()).unwrap().profile
    }

    #[test]
    fn open_rates_resolve_as_results_json_records_them() {
        assert_eq!(Rate::Absolute(2000.0).resolve(None).unwrap(), (2000.0, "absolute".to_owned()));
        assert_eq!(Rate::StreamArrivals(50.0).resolve(None).unwrap(), (50.0, "stream arrivals".to_owned()));
        assert_eq!(Rate::OfClosedMax(0.5).resolve(Some(16733.4)).unwrap(), (8366.7, "0.5 x max (16733 req/s)".into()));
        assert!(Rate::OfClosedMax(0.5).resolve(None).is_err(), "a fraction needs a measured maximum");
    }

    #[test]
    fn long_exchanges_stretch_the_window_and_short_ones_do_not() {
        let p = Profile::get(ProfileName::Quick);
        let window = |w| match &workload_plan(w, &p).steps[0] {
            Step::Point(pt) => pt.window,
            other => panic!("{other:?}"),
        };
        // 32 tokens 20 ms apart: 0.64 s per stream. The window covers two (2 s is more); the
        // warm-up covers the ramp of 50 connections (50 ms) and the phase alignment, 2.2
        // streams (driver, `closed`): 1.458 s.
        let g = window(Workload::Generate);
        assert_eq!((g.warmup, g.duration), (Duration::from_millis(1458), Duration::from_millis(2000)));
        // infer-io at 100 in flight, 200 ms each: 0.1 s of ramp + 0.44 s.
        let io = match &workload_plan(Workload::InferIo, &p).steps[1] {
            Step::Point(pt) => pt.window,
            other => panic!("{other:?}"),
        };
        assert_eq!(io.warmup, Duration::from_millis(540));
        let h = window(Workload::Health);
        assert_eq!((h.warmup, h.duration, h.repeats), (p.warmup, p.duration, p.repeats));
    }

    #[test]
    fn predict_measures_closed_points_before_the_open_ones_that_depend_on_them() {
        let p = Profile::get(ProfileName::Standard);
        let steps = workload_plan(Workload::Predict, &p).steps;
        let closed = steps
            .iter()
            .take_while(|s| matches!(s, Step::Point(PointPlan { mode: PlannedMode::Closed { .. }, .. })))
            .count();
        let s = &p.workloads.predict;
        assert_eq!(closed, s.connections.len());
        assert_eq!(steps.len(), closed + s.open_fractions.len() + s.open_absolute_rps.len());
        let infer_cpu = workload_plan(Workload::InferCpu, &p).steps;
        assert!(matches!(infer_cpu[0], Step::CalibrateWork { .. }), "`work` is calibrated on the fresh server first");
        assert!(matches!(infer_cpu[1], Step::ProbeBaseline { .. }), "then the idle baseline, before any point");
    }
}
