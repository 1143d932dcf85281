//! A quick run on the real fw-hyper binary produces a results.json that validates against
//! docs/results.schema.json.

use crate::common;

use std::time::Duration;

use harness::plan::TargetSource;
use harness::results::Workload;
use harness::run::execute;
use harness::workload::{Profile, ProfileName};

#[test]
fn quick_run_on_fw_hyper_writes_schema_valid_results() {
    let _exclusive = common::exclusive();
    let root = common::workspace();
    let m = common::fw_hyper_debug_manifest();
    let mut profile = Profile::get(ProfileName::Quick);
    profile.warmup = Duration::from_millis(100);
    profile.duration = Duration::from_millis(400);
    profile.workloads.health.connections = vec![8];
    profile.workloads.predict.connections = vec![8];
    profile.workloads.predict.open_fractions = vec![0.25];
    profile.workloads.predict.open_absolute_rps = vec![200.0];
    profile.workloads.generate.streams = vec![4];
    profile.workloads.generate.max_tokens = 8;
    profile.workloads.generate.token_delay_ms = 5;
    profile.workloads.infer_io.connections = vec![4, 16];
    profile.workloads.infer_io.latency_ms = 50;
    profile.workloads.infer_cpu.concurrency = vec![2];
    profile.workloads.mixed.users = 4;
    profile.workloads.mixed.duration = Duration::from_secs(1);
    let out = std::env::temp_dir().join(format!("mlapi-smoke-{}", std::process::id()));
    // A small fixed `work` keeps the test short (no per-target calibration: its method reads
    // `fixed`); the calibration has its own tests.
    let cfg =
        common::run_config(vec![TargetSource::Manifest(m)], Workload::ALL.to_vec(), profile, out.clone(), Some(200));
    let results = execute(&cfg).unwrap();
    let t = &results.targets[0];
    assert_eq!(t.status, harness::results::TargetStatus::Measured, "{:?}", t.skip_reason);
    assert!(t.verification.as_ref().unwrap().passed);
    let names: Vec<(&str, usize)> = t.points.iter().map(|p| (p.workload.name(), p.connections)).collect();
    assert_eq!(
        names,
        [
            ("health", 8),
            ("predict", 8),
            ("predict", 256),
            ("predict", 256),
            ("generate", 4),
            ("infer-io", 4),
            ("infer-io", 16),
            ("infer-cpu", 2),
            ("mixed", 4)
        ],
        "one point per profile setting, in plan order"
    );
    for p in &t.points {
        assert!(p.summary.throughput_rps.median > 0.0, "{p:?}");
        assert_eq!(p.summary.errors, 0, "{:?}", p.repeats.iter().map(|r| &r.mismatches).collect::<Vec<_>>());
        let l = &p.summary.latency_us;
        assert!(l.p50 > 0 && l.p50 <= l.max, "{l:?}");
        // A percentile is given exactly when at least 10 samples lie beyond it.
        let n = l.n.unwrap();
        assert_eq!((l.p99.is_some(), l.p999.is_some()), (n >= 1000, n >= 10_000), "{l:?}");
        assert!(l.p99.is_none_or(|v| l.p50 <= v && v <= l.max), "{l:?}");
    }
    for p in &t.points[..2] {
        assert!(p.summary.cpu_us_per_request.is_some_and(|c| c > 0.0), "{p:?}");
    }
    let by = |w: &'static str| t.points.iter().filter(move |p| p.workload.name() == w);
    for p in by("infer-io") {
        let f = p.summary.inflight.as_ref().unwrap();
        assert!((50.0..=101.0).contains(&f.efficiency_pct), "{f:?}");
        assert!(f.overhead_us.p50 >= 0.0, "an io request cannot beat its own latency: {f:?}");
    }
    let probe = by("infer-cpu").next().unwrap().summary.probe.as_ref().unwrap();
    assert_eq!((probe.work, probe.probe_errors), (200, 0));
    assert!(probe.probe_requests > 0 && probe.loaded_us.p50 > 0 && probe.idle_us.p50 > 0, "{probe:?}");
    // Beside the plain idle baseline, the floor with the server CPU kept awake (issue 15,
    // item 6), from as many probes.
    let awake = probe.awake_us.as_ref().expect("the awake baseline");
    assert!(awake.p50 > 0 && awake.n == probe.idle_us.n, "{probe:?}");
    let mixed = by("mixed").next().unwrap().summary.mixed.as_ref().unwrap();
    let names: Vec<&str> = mixed.transactions.iter().map(|x| x.name.as_str()).collect();
    assert!(names.contains(&"POST /v1/predict") && names.contains(&"SSE generate TTFT"), "{names:?}");
    assert!(mixed.transactions.iter().all(|x| x.failures == 0), "{mixed:?}");
    // The client's CPU per request is the window's (as its client share), not the whole
    // goose run's divided by the window's requests (issue 14, item 4).
    let point = by("mixed").next().unwrap();
    let rep = &point.repeats[0];
    let in_window = rep.client_cpu_share * cfg.client_cpus.len() as f64 * rep.window_s * 1e6 / rep.responses as f64;
    let recorded = mixed.client_cpu_us_per_request.unwrap();
    assert!((recorded - in_window).abs() <= 0.01 * in_window, "recorded {recorded} µs, in the window {in_window} µs");
    assert!(out.join(mixed.goose_report.as_ref().unwrap()).is_file());
    let s = by("generate").next().unwrap().summary.streaming.as_ref().unwrap();
    assert_eq!(s.streams_correct_share, 1.0);
    let memory = t.memory.as_ref().unwrap();
    // Fitted across the levels (the lowest is the warmed baseline), x = the concurrency held.
    let inflight = memory.bytes_per_inflight_request.as_ref().unwrap();
    assert_eq!(inflight.points.len(), 2, "2 levels, no idle point");
    assert!(inflight.points.iter().all(|p| p[0] > 0.0 && p[1] > 0.0), "{inflight:?}");
    assert!(memory.bytes_per_open_stream.is_none(), "one generate level gives no slope");
    let cost = t.cost.as_ref().unwrap();
    assert!(cost.startup_runs_ms.len() >= 3 && cost.startup_ms_median.is_some_and(|m| m > 0.0), "{cost:?}");
    assert!(cost.loc.is_some_and(|l| l > 50) && cost.idle_rss_bytes.is_some(), "{cost:?}");
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
