//! A server that answers after exactly 5 ms must be reported with a p50 between 5 and 6 ms.

mod common;

use std::time::Duration;

use harness::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};

#[test]
fn fixed_5ms_server_reports_p50_between_5_and_6_ms() {
    // A thread sleep is precise to tens of µs; tokio's timer would round up to the next ms.
    let url = common::start_server(|_| async {
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(5))).await.unwrap();
    });
    let spec = LoadSpec {
        mode: Mode::Open { rate_rps: 100.0, arrival: Arrival::Poisson { seed: 1 }, max_connections: 64 },
        warmup: Duration::from_millis(200),
        stop: Stop::Duration(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
    };
    let r = common::client_runtime().block_on(driver::run(&url, PayloadSet::health(), spec)).unwrap();
    let p50 = r.recorded.latency_us.value_at_quantile(0.5);
    eprintln!("p50 {p50} µs over {} responses", r.recorded.responses());
    assert!(r.recorded.responses() > 100, "too few responses: {}", r.recorded.responses());
    assert_eq!(r.recorded.errors.total(), 0, "{:?}", r.recorded.errors);
    assert!((5_000..=6_000).contains(&p50), "p50 {p50} µs is outside [5000, 6000]");
}
