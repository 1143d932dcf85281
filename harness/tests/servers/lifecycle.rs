//! Targets that never get ready, or that fail verification, are skipped with a recorded
//! reason, and no child process survives.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use harness::manifest::Manifest;
use harness::plan::{RunConfig, TargetSource};
use harness::results::Workload;
use harness::run::execute;
use harness::workload::{Profile, ProfileName};

fn manifest(name: &str, start: &str) -> Manifest {
    Manifest {
        name: name.into(),
        language: "test".into(),
        display_name: name.into(),
        framework_crate: "none".into(),
        framework_version: "0".into(),
        build: "true".into(),
        start: start.into(),
        readiness_path: "/health".into(),
        server_setup: "test double".into(),
        python_requires: Vec::new(),
        overhead_over: None,
        dir: PathBuf::new(),
        root: None,
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

#[test]
fn unready_and_unverified_targets_are_skipped_and_leave_no_process() {
    let _exclusive = common::exclusive();
    let dir = std::env::temp_dir().join(format!("mlapi-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Answers 200 {"status":"ok"} to everything: ready, but fails the contract.
    let fake = dir.join("fake_target_7731.py");
    std::fs::write(&fake, common::WRONG_ANSWERS_PY).unwrap();
    let never_ready = manifest("never-ready", "sleep 61.7731 # {port} {workers}");
    let unverified = manifest("unverified", &format!("python3 {} {{port}} # {{workers}}", fake.display()));
    let mut profile = Profile::get(ProfileName::Quick);
    profile.duration = Duration::from_millis(200);
    let cfg = RunConfig {
        root: std::env::current_dir().unwrap(),
        targets: vec![TargetSource::Manifest(never_ready), TargetSource::Manifest(unverified)],
        workloads: vec![Workload::Health],
        profile,
        out_dir: dir.join("out"),
        server_cpus: vec![0],
        client_cpus: vec![0],
        workers: None,
        build: true,
        ready_timeout: Duration::from_secs(2),
        stop_timeout: harness::target::STOP_TIMEOUT,
        hostile: false,
        progress: false,
        cpu_work: None,
        seed: None,
        invocation: None,
    };
    let results = execute(&cfg).unwrap();
    let [a, b] = &results.targets[..] else { panic!("two targets expected") };
    assert_eq!(a.status, harness::results::TargetStatus::Skipped);
    assert!(a.skip_reason.as_deref().unwrap().contains("did not answer /health"), "{:?}", a.skip_reason);
    assert!(a.points.is_empty());
    assert_eq!(b.status, harness::results::TargetStatus::Skipped);
    assert!(b.skip_reason.as_deref().unwrap().contains("failed verification"), "{:?}", b.skip_reason);
    let v = b.verification.as_ref().unwrap();
    assert!(!v.passed && !v.failures.is_empty() && v.failures.len() < v.cases);
    assert!(b.points.is_empty(), "a target that fails verification gets no numbers");
    // The results file on disk says the same.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/results.json")).unwrap()).unwrap();
    assert_eq!(on_disk["targets"][1]["status"], "skipped");
    std::thread::sleep(Duration::from_millis(200));
    assert!(processes_with("61.7731").is_empty(), "orphan: {:?}", processes_with("61.7731"));
    assert!(processes_with("fake_target_7731").is_empty(), "orphan: {:?}", processes_with("fake_target_7731"));
}
