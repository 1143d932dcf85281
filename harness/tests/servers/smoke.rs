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
    let cfg = common::run_config(
        vec![TargetSource::Manifest(m)],
        Workload::of_api(harness::results::Api::Contract),
        profile,
        out.clone(),
        Some(200),
    );
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

    let doc = schema_valid_results(&root, &out);
    assert!(doc["finished_at"].is_string());
}

/// `--url … --api openai` against the mock model server: the OpenAI part verified, the
/// chat points measured (closed, then open at half the closed maximum, Gamma gaps),
/// goodput under `--slo`, the process sampled through `--pid` (the test's own), a schema-valid
/// results.json and a report with the chat table.
#[test]
fn chat_run_against_the_mock_writes_schema_valid_results_and_a_report() {
    let _exclusive = common::exclusive();
    let root = common::workspace();
    let mock = mock_llm::spawn_on_thread(mock_llm::Config {
        ttft: Duration::from_millis(20),
        itl: Duration::from_millis(5),
        ..mock_llm::Config::default()
    });
    let mut profile = Profile::get(ProfileName::Quick);
    profile.repeats = 2;
    profile.burstiness = 0.5;
    profile.slo = harness::slo::parse("chat.ttft=15ms,chat.e2el=1s,predict.p99=5ms").unwrap();
    let chat = &mut profile.workloads.chat;
    chat.concurrency = vec![2, 8];
    chat.max_tokens = 8;
    chat.warmup = Duration::from_millis(300);
    chat.window = Duration::from_millis(800);
    let out = std::env::temp_dir().join(format!("mlapi-chat-smoke-{}", std::process::id()));
    let source = TargetSource::Url {
        name: "mock".into(),
        base_url: format!("http://{}", mock.addr),
        api: harness::results::Api::Openai,
        pid: Some(std::process::id() as i32),
    };
    let cfg = common::run_config(vec![source], vec![Workload::Chat], profile, out.clone(), None);
    let results = execute(&cfg).unwrap();
    let t = &results.targets[0];
    assert_eq!(t.status, harness::results::TargetStatus::Measured, "{:?}", t.skip_reason);
    assert_eq!((t.api, t.model.as_deref()), (harness::results::Api::Openai, Some("mock-llm")));
    assert_eq!(t.verification.as_ref().map(|v| (v.passed, v.cases)), Some((true, 3)));
    let modes: Vec<(&str, usize)> = t.points.iter().map(|p| (p.mode.name(), p.connections)).collect();
    assert_eq!(modes, [("closed", 2), ("closed", 8), ("open", 256)]);
    let open = &t.points[2];
    assert_eq!(open.arrival.as_deref(), Some("gamma b=0.5"));
    assert!(open.rate_basis.as_deref().is_some_and(|b| b.starts_with("0.5 x max")), "{:?}", open.rate_basis);
    for p in &t.points {
        let c = p.summary.chat.as_ref().expect("chat figures");
        assert_eq!((p.summary.errors, c.streams_incomplete), (0, 0), "{:?}", p.repeats[0].mismatches);
        assert!(c.streams_complete > 0 && c.tokens_from_usage == c.streams_complete, "{c:?}");
        // TTFT 20 ms and a 15 ms objective: no request is good; E2EL alone would pass.
        assert_eq!(c.goodput_rps.as_ref().map(|g| g.median), Some(0.0), "{c:?}");
        assert_eq!(c.slo, ["chat.ttft=15ms", "chat.e2el=1000ms"]);
        assert!((19_000..30_000).contains(&c.ttft_us.p50), "{c:?}");
        assert!(c.output_tokens_per_s.median > 0.0);
        assert!(p.summary.objectives.is_empty(), "predict's objective is not judged on chat points");
        // Sampled through --pid: this test process runs on every CPU, the client's too.
        assert!(p.summary.flags.contains(&harness::results::Flag::ClientBound), "{:?}", p.summary.flags);
        assert!(p.repeats.iter().all(|r| r.chat.is_some() && r.rss_peak_bytes.is_some()));
    }
    schema_valid_results(&root, &out);
    let written = harness::report::generate(&out).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Chat (OpenAI streaming)") && md.contains("vLLM-rule TTFT"), "{}", written.index.display());
    assert!(!md.contains("not measured in this run"), "a chat-only run lists no contract table as absent");
}

/// `out`'s results.json, asserted valid against docs/results.schema.json.
fn schema_valid_results(root: &std::path::Path, out: &std::path::Path) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("docs/results.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json does not match the schema:\n{}", errors.join("\n"));
    doc
}
