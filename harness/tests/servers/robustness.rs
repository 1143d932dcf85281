//! The robustness measurement end to end on fw-hyper (debug build): the whole hostile
//! corpus, a small slowloris and a small disconnect, written by `VerifyRun` into a
//! results.json that matches docs/results.schema.json. A server that answers 5xx is caught.

use crate::common;

use std::time::Duration;

use harness::hostile::{DisconnectSpec, Options, VerifyRun, measure};
use harness::plan::TargetSource;
use harness::results::Verification;

fn small_options() -> Options {
    Options {
        slowloris: Some((20, Duration::from_secs(2))),
        disconnect: Some(DisconnectSpec {
            streams: 50,
            warmup_cycles: 1,
            judged_cycles: 1,
            ..DisconnectSpec::default()
        }),
    }
}

#[test]
fn fw_hyper_is_robust_and_the_figures_match_the_schema() {
    let _exclusive = common::exclusive();
    let m = common::fw_hyper_debug_manifest();
    let dir = std::env::temp_dir().join(format!("mlapi-robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cpus = harness::target::affinity(0);
    let running =
        harness::target::spawn(&m, &common::workspace(), 1, &cpus, &cpus, &dir, Duration::from_secs(20)).unwrap();
    let r = measure(&running.base_url, Some(running.pid), Some(&running.stderr_log), &small_options()).unwrap();
    assert!(r.verdict().is_empty(), "{:?}\nfailures: {:#?}", r.verdict(), r.failures);
    assert!(r.ok && r.cases >= 200 && r.passed == r.cases && r.server_errors == 0 && r.crashes == 0);
    assert!(r.health_after_ms.is_some() && r.rss_growth_bytes.is_some());
    let s = r.slowloris.as_ref().unwrap();
    assert!(s.health_ok && s.opened == 20 && s.probes >= 2, "{s:?}");
    let d = r.disconnect.as_ref().unwrap();
    assert!(d.opened == 50 && d.answering > 0, "the streams were streaming: {d:?}");
    assert!(d.judged(), "at least 90% of the streams were live at each drop: {d:?}");
    assert!(d.cpu_ok, "generation stops when the client goes: {d:?}");
    assert_eq!(d.cycles.len(), 2, "one warm-up cycle and one judged: {d:?}");
    assert!(!d.cycles[0].judged && d.cycles[1].judged && d.warmup_cycles == 1, "{d:?}");
    assert!(d.cycles.iter().all(|c| c.rss_at_drop_bytes > 0 && c.rss_before_bytes > 0), "{d:?}");

    let out = dir.join("out");
    let mut run = VerifyRun::start(&common::workspace(), out.clone(), 1024, small_options()).unwrap();
    let v = Verification { passed: true, cases: 0, failures: vec![], ..Verification::default() };
    run.record(&TargetSource::Manifest(m), &common::workspace(), v, r).unwrap();
    assert!(run.table().contains("453/453") || run.table().contains(" ok"), "{}", run.table());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::workspace().join("docs/results.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json does not match the schema:\n{}", errors.join("\n"));
    assert_eq!(doc["targets"][0]["status"], "verified");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server that answers 500 to everything fails every case and is counted, not hidden.
#[test]
fn five_hundreds_are_counted() {
    let _exclusive = common::exclusive();
    let url = always_500();
    let r = measure(&url, None, None, &Options { slowloris: None, disconnect: None }).unwrap();
    assert!(r.server_errors >= r.cases, "{} 5xx over {} cases", r.server_errors, r.cases);
    assert_eq!(r.passed, 0);
    assert!(!r.ok && r.verdict().iter().any(|v| v.contains("5xx")), "{:?}", r.verdict());
}

/// A server on port 0 that answers every connection with one 500 and closes it.
fn always_500() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let _ = s
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            });
        }
    });
    format!("http://{addr}")
}
