//! The Python targets' venv: what the harness records about it as their cost of ownership.
//! (That each Python target meets the contract is checked with every other target's, in
//! `contract.rs`.)
//!
//! Needs python3 >= 3.10 with its venv module, and PyPI the first time.

use crate::common;

use harness::python;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn cost_of_ownership_figures_describe_the_venv() {
    let _exclusive = common::exclusive();
    let root = root();
    python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let dists = python::installed_distributions(&root).unwrap();
    // Every pinned requirement, plus what `venv` seeds: pip, and setuptools before Python 3.12.
    let pinned =
        std::fs::read_to_string(root.join(python::REQUIREMENTS)).unwrap().lines().filter(|l| l.contains("==")).count();
    assert!(
        (pinned + 1..=pinned + 2).contains(&dists),
        "{dists} installed distributions for {pinned} pinned lines in {}",
        python::REQUIREMENTS
    );
    let size = python::venv_size_bytes(&root).unwrap();
    assert!(size > 50_000_000, "venv of {size} bytes is implausibly small");
}

/// infer-cpu's `work` is calibrated on each target against its own server CPU (issue 15,
/// item 1): before, one `work` timed on the Rust model was sent to every target, and a Python
/// request cost 91–100 ms against 11.5 ms for Rust. Here a Rust and a Python target are
/// calibrated in one run, and each one's concurrency-1 point costs the target ± 35%.
#[test]
fn infer_cpu_work_is_calibrated_on_each_target_to_its_own_cpu() {
    use harness::plan::TargetSource;
    use harness::results::Workload;
    use harness::workload::{Profile, ProfileName};
    use std::time::Duration;

    let _exclusive = common::exclusive();
    let root = root();
    python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let flask = harness::manifest::Manifest::load(&root.join("frameworks/python/flask/framework.toml")).unwrap();
    let mut profile = Profile::get(ProfileName::Quick);
    profile.warmup = Duration::from_millis(200);
    profile.duration = Duration::from_millis(800);
    profile.repeats = 1;
    profile.workloads.infer_cpu.concurrency = vec![1];
    // The profiles' 10 ms: the point's CPU also pays for the /health probe beside it (50/s,
    // about 1.5 ms each on Flask), a share that grows as the target shrinks (at 5 ms a
    // Flask point once read 8.1 ms).
    let target_ms = profile.workloads.infer_cpu.cpu_target_ms;
    assert_eq!(target_ms, 10.0);
    let out = std::env::temp_dir().join(format!("mlapi-calibration-{}", std::process::id()));
    let targets = vec![TargetSource::Manifest(common::fw_hyper_debug_manifest()), TargetSource::Manifest(flask)];
    let cfg = common::run_config(targets, vec![Workload::InferCpu], profile, out.clone(), None);
    let results = harness::run::execute(&cfg).unwrap();
    let seed = results.environment.cpu_work.unwrap();
    assert!(results.environment.numeric_env.contains_key("OPENBLAS_CORETYPE"), "{:?}", results.environment);
    for t in &results.targets {
        assert_eq!(t.status, harness::results::TargetStatus::Measured, "{}: {:?}", t.name, t.skip_reason);
        let cal = t.cpu_calibration.as_ref().unwrap();
        assert_eq!(
            (cal.method.as_str(), cal.seed_work, cal.target_ms),
            ("calibrated", seed, target_ms),
            "{}: {cal:?}",
            t.name
        );
        assert_eq!(cal.trials[0].work, seed, "the first trial sends the seed");
        let kept = cal.trials.iter().find(|x| x.work == cal.work).unwrap();
        assert_eq!(kept.cpu_ms, cal.measured_ms, "the kept `work` is a measured one");
        let point = &t.points[0];
        assert_eq!(point.summary.probe.as_ref().unwrap().work, cal.work, "the points send the calibrated `work`");
        let cost_ms = point.summary.cpu_us_per_request.unwrap() / 1e3;
        assert!(
            (cost_ms - target_ms).abs() <= 0.35 * target_ms,
            "{}: a request costs {cost_ms:.2} ms ({cal:?})",
            t.name
        );
        assert!(cal.trials.len() <= cfg.profile.workloads.infer_cpu.calibration.max_trials, "{cal:?}");
    }
    // Whether the works differ depends on the build: the debug fw-hyper here runs a pass at
    // about numpy's cost, a release one at about an eighth (the unit test
    // `probe::tests::each_target_is_calibrated_to_its_own_cost` holds that case).
    let _ = std::fs::remove_dir_all(&out);
}
