//! Keeps "the driver is not the bottleneck" measurable: against fw-hyper `/health`, server on
//! CPU 0 and client on CPU 1, our closed loop at 64 connections must reach at least 0.9×
//! wrk's throughput (`wrk -t1 -c64`) in the same sitting. Alternates the two, 5 rounds of
//! 5 s each, and takes the median of the per-round ratios (pairing cancels the drift of a
//! shared machine).
//!
//! Needs wrk, taskset, 2 CPUs and a release build; run it with
//! `cargo test --release -p harness --test timing driver_vs_wrk -- --ignored --nocapture`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::driver::{self, LoadSpec, Mode, PayloadSet, Stop};
use harness::manifest::Manifest;
use harness::target;

const ROUNDS: usize = 5;
const SECONDS: u64 = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "needs wrk, 2 CPUs and a release build; see the module doc"]
fn driver_reaches_at_least_0_9_of_wrk_on_fw_hyper_health() {
    if cfg!(debug_assertions) {
        panic!("run with --release: a debug driver measures itself");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let m = Manifest::load(&root.join("frameworks/hyper/framework.toml")).unwrap();
    target::build(&m, root, &std::env::temp_dir().join("driver_vs_wrk.build.log")).unwrap();
    let server = target::spawn(&m, root, 1, &[0], &[1], &std::env::temp_dir(), target::READY_TIMEOUT).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let out = Command::new("taskset")
            .args(["-c", "1", "wrk", "-t1", "-c64", &format!("-d{SECONDS}s"), &format!("{}/health", server.base_url)])
            .output()
            .expect("wrk and taskset must be installed (apt-get install wrk util-linux)");
        let text = String::from_utf8_lossy(&out.stdout);
        let rps: f64 = text
            .lines()
            .find(|l| l.starts_with("Requests/sec:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
        theirs.push(rps);
        let spec = LoadSpec {
            mode: Mode::Closed { connections: 64 },
            warmup: Duration::from_millis(500),
            stop: Stop::Duration(Duration::from_secs(SECONDS)),
            request_timeout: Duration::from_secs(10),
        };
        let r = rt.block_on(driver::run(&server.base_url, PayloadSet::health(), spec)).unwrap();
        assert_eq!(r.recorded.errors.total(), 0);
        ours.push(r.throughput_rps());
        eprintln!("round {round}: wrk {rps:.0} req/s, harness driver {:.0} req/s", r.throughput_rps());
    }
    let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| o / t).collect();
    let ratio = median(ratios.clone());
    eprintln!(
        "median: wrk {:.0}, driver {:.0}; per-round ratios {ratios:.3?}, median ratio {ratio:.3}",
        median(theirs),
        median(ours)
    );
    assert!(ratio >= 0.9, "the driver reached only {ratio:.3}× wrk's throughput");
}
