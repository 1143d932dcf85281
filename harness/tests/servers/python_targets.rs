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

/// Each Python target's cost of ownership is its own dependency closure, not the shared
/// venv (issue 17): FastAPI's holds no Ray, and Ray Serve's, which runs FastAPI's app,
/// holds all of FastAPI's and much more; every closure is a part of the venv.
#[test]
fn each_python_target_costs_its_own_dependency_closure() {
    let _exclusive = common::exclusive();
    let root = root();
    python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let closure = |name: &str| {
        let m =
            harness::manifest::Manifest::load(&root.join(format!("frameworks/python/{name}/framework.toml"))).unwrap();
        python::dependency_closure(&root, &m.python_requires).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let names = |c: &python::Closure| -> std::collections::BTreeSet<String> {
        c.distributions.iter().map(|d| d.name.to_lowercase().replace('_', "-")).collect()
    };
    let (fastapi, ray) = (closure("fastapi"), closure("ray-serve"));
    let (f, r) = (names(&fastapi), names(&ray));
    for want in ["fastapi", "starlette", "pydantic", "uvicorn", "numpy"] {
        assert!(f.contains(want), "fastapi's closure lacks {want}: {f:?}");
    }
    assert!(!f.contains("ray") && !f.contains("bentoml") && !f.contains("django"), "{f:?}");
    assert!(r.is_superset(&f), "ray-serve runs FastAPI's app: {:?} missing", f.difference(&r).collect::<Vec<_>>());
    // ray[serve]'s extra brings aiohttp and friends, which plain `ray` does not require.
    assert!(r.contains("ray") && r.contains("aiohttp"), "{r:?}");
    assert!(ray.bytes > 2 * fastapi.bytes, "ray-serve {} bytes, fastapi {}", ray.bytes, fastapi.bytes);
    let venv = python::venv_size_bytes(&root).unwrap();
    assert!(
        ray.bytes < venv && fastapi.bytes > 10_000_000,
        "closures {} and {} of a {venv}-byte venv",
        ray.bytes,
        fastapi.bytes
    );
    let sum: u64 = fastapi.distributions.iter().map(|d| d.bytes).sum();
    assert_eq!(sum, fastapi.bytes);
    // A requirement that is not installed is an error, not an empty closure.
    assert!(python::dependency_closure(&root, &["no-such-distribution-7731".into()]).is_err());
    assert!(python::dependency_closure(&root, &[]).is_err());
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
