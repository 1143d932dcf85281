//! A quick run on the real fw-hyper binary produces a results.json that validates against
//! docs/results.schema.json.

mod common;

use std::time::Duration;

use harness::profile::{Profile, ProfileName};
use harness::run::{RunConfig, TargetSource, Workload, execute};

#[test]
fn quick_run_on_fw_hyper_writes_schema_valid_results() {
    let root = common::workspace();
    let m = common::fw_hyper_debug_manifest();
    let mut profile = Profile::get(ProfileName::Quick);
    profile.warmup = Duration::from_millis(100);
    profile.duration = Duration::from_millis(400);
    profile.health_connections = vec![8];
    profile.predict_connections = vec![8];
    profile.open_fractions = vec![0.25];
    profile.open_absolute_rps = vec![200.0];
    let out = std::env::temp_dir().join(format!("mlapi-smoke-{}", std::process::id()));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cfg = RunConfig {
        root: root.clone(),
        targets: vec![TargetSource::Manifest(m)],
        workloads: vec![Workload::Health, Workload::Predict],
        profile,
        out_dir: out.clone(),
        server_cpus: vec![0],
        client_cpus: vec![1 % cpus],
        workers: None,
        build: false,
        ready_timeout: Duration::from_secs(30),
        progress: true,
        cpu_work: None,
    };
    let results = execute(&cfg).unwrap();
    let t = &results.targets[0];
    assert_eq!(t.status, "measured", "{:?}", t.skip_reason);
    assert!(t.verification.as_ref().unwrap().passed);
    assert_eq!(t.points.len(), 4, "health closed, predict closed, predict open ×2");
    for p in &t.points {
        assert!(p.summary.throughput_rps.median > 0.0, "{p:?}");
        assert_eq!(p.summary.errors, 0, "{:?}", p.repeats.iter().map(|r| &r.mismatches).collect::<Vec<_>>());
        assert!(p.summary.cpu_us_per_request.is_some_and(|c| c > 0.0), "{p:?}");
        assert!(p.summary.latency_us.p50 > 0 && p.summary.latency_us.p50 <= p.summary.latency_us.p99);
    }
    let predict_closed = &t.points[1];
    assert!(predict_closed.repeats.iter().all(|r| r.statuses.contains_key("422")), "the mix holds invalid requests");
    assert!(predict_closed.repeats.iter().map(|r| r.bodies_checked).sum::<u64>() > 0, "about 1% of bodies are checked");

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("docs/results.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json does not match the schema:\n{}", errors.join("\n"));
    assert!(doc["finished_at"].is_string());
}
