//! The estimators behind throughput, checked against servers whose answer is known
//! (docs/metrics.md, "Throughput" and "Flags"):
//! - a server of known capacity C driven open-loop below and above C must be flagged
//!   `overloaded` exactly above C, and never be reported faster than C;
//! - closed-loop exchanges of a set length (1.30 s and 1.62 s, 25% apart) must be reported
//!   25% ± 2% apart, whatever the window's length in exchanges.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};

/// One request at a time, each taking `service` of the server's time: capacity 1/service.
/// Requests queue in arrival order on a virtual clock (`busy_until`), and each answer is
/// sent when its turn ends, so the capacity does not depend on timer granularity.
fn serial_server(service: Duration) -> String {
    let busy_until = Arc::new(Mutex::new(Instant::now()));
    common::start_server(move |arrived: Instant| {
        let busy_until = busy_until.clone();
        async move {
            let done = {
                let mut b = busy_until.lock().unwrap();
                *b = (*b).max(arrived) + service;
                *b
            };
            tokio::time::sleep_until(tokio::time::Instant::from_std(done)).await;
        }
    })
}

#[test]
fn a_server_of_known_capacity_is_flagged_overloaded_exactly_above_it() {
    let _exclusive = common::exclusive();
    let capacity = 500.0;
    let url = serial_server(Duration::from_secs_f64(1.0 / capacity));
    let rt = common::client_runtime();
    for (factor, expect_overloaded) in [(0.5, false), (0.9, false), (1.2, true), (2.0, true)] {
        let spec = LoadSpec {
            mode: Mode::Open {
                rate_rps: factor * capacity,
                arrival: Arrival::Poisson { seed: 7 },
                max_connections: 256,
            },
            warmup: Duration::from_millis(500),
            stop: Stop::Duration(Duration::from_secs(3)),
            request_timeout: Duration::from_secs(10),
        };
        let r = rt.block_on(driver::run(&url, PayloadSet::health(), spec)).unwrap();
        let thr = r.throughput_rps();
        let flagged = harness::analysis::overloaded_window(r.scheduled, r.completed_in_window, r.thirds_p50_us);
        eprintln!(
            "{factor} x C: {thr:.1} req/s, {} of {} scheduled completed in the window, thirds' p50 {:?} µs, overloaded {flagged}",
            r.completed_in_window, r.scheduled, r.thirds_p50_us
        );
        assert_eq!(flagged, expect_overloaded, "{factor} x C");
        assert!(thr <= capacity * 1.02, "{factor} x C: {thr:.1} req/s reported from a server of capacity {capacity}");
        if !expect_overloaded {
            assert!((thr / (factor * capacity) - 1.0).abs() < 0.1, "{factor} x C: {thr:.1} req/s");
        }
    }
}

#[test]
fn closed_loop_throughput_of_long_exchanges_follows_their_length() {
    let _exclusive = common::exclusive();
    let rt = common::client_runtime();
    let connections = 100;
    let measure = |exchange: Duration| {
        let url = common::start_server(move |_| tokio::time::sleep(exchange));
        // The old quick generate set-up (warm-up 1.28 s, window 2.56 s): two exchanges per
        // connection fitted the window for any length between 1.28 and 1.6 s. The driver
        // now holds the window back until the connections' phases are aligned.
        let spec = LoadSpec {
            mode: Mode::Closed { connections },
            warmup: Duration::from_millis(1280),
            stop: Stop::Duration(Duration::from_millis(2560)),
            request_timeout: Duration::from_secs(10),
        };
        let r = rt.block_on(driver::run(&url, PayloadSet::health(), spec)).unwrap();
        assert_eq!(r.recorded.errors.total(), 0, "{:?}", r.recorded.errors);
        let window = r.window().as_secs_f64();
        let thr = r.throughput_rps();
        assert_eq!(thr, r.completed_in_window as f64 / window);
        // Little's law as a check: connections ÷ mean exchange time.
        let mean_s = r.recorded.answered_mean_us().unwrap() / 1e6;
        let little = connections as f64 / mean_s;
        eprintln!(
            "{exchange:?}: {} completions in {window:.3} s = {thr:.2}/s; Little's law {little:.2}/s; alignment held the start {:?}",
            r.completed_in_window, r.alignment_wait
        );
        assert!((thr / little - 1.0).abs() < 0.02, "{thr:.2}/s against Little's {little:.2}/s");
        thr
    };
    let short = measure(Duration::from_millis(1300));
    let long = measure(Duration::from_millis(1620));
    let apart = short / long - 1.0;
    eprintln!(
        "1.30 s vs 1.62 s exchanges: {:.1}% apart (by construction {:.1}%)",
        apart * 100.0,
        (1.62 / 1.30 - 1.0) * 100.0
    );
    assert!((apart - (1.62 / 1.30 - 1.0)).abs() <= 0.02, "{:.1}% apart", apart * 100.0);
}

/// Open loop at a constant `rate` for 2 s, no warm-up, a pool of `pool` connections.
fn constant_2s(rate: f64, pool: usize, timeout: Duration) -> LoadSpec {
    LoadSpec {
        mode: Mode::Open { rate_rps: rate, arrival: Arrival::Constant, max_connections: pool },
        warmup: Duration::ZERO,
        stop: Stop::Duration(Duration::from_secs(2)),
        request_timeout: timeout,
    }
}

/// Percentiles are over every request: with 2% of requests never answered, p99 falls among
/// the failures and must read as one (at least the timeout), not as a survivor's latency;
/// and no open-loop answer is recorded later than the request timeout after its scheduled
/// time, the wait for a connection included.
#[test]
fn failures_count_in_the_percentiles_and_no_answer_outlives_the_timeout() {
    let _exclusive = common::exclusive();
    let rt = common::client_runtime();
    let timeout = Duration::from_secs(1);
    // Every 50th request hangs far past the timeout; the others are answered at once.
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = common::start_server(move |_| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            if n % 50 == 49 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    });
    let r = rt.block_on(driver::run(&url, PayloadSet::health(), constant_2s(200.0, 256, timeout))).unwrap();
    let h = &r.recorded.latency_us;
    let (p50, p99) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99));
    eprintln!("{} timeouts of {} scheduled; p50 {p50} µs, p99 {p99} µs", r.recorded.errors.timeout, r.scheduled);
    assert!(r.recorded.errors.timeout >= r.scheduled / 60, "{:?}", r.recorded.errors);
    assert!(p50 < 50_000, "p50 {p50} µs should be an answer");
    assert!(harness::results::Latency::is_failure(p99), "p99 {p99} µs falls among the 2% that timed out");

    // Two connections, 300 ms per answer, 20 requests/s: requests queue for a connection.
    let url = common::start_server(|_| tokio::time::sleep(Duration::from_millis(300)));
    let r = rt.block_on(driver::run(&url, PayloadSet::health(), constant_2s(20.0, 2, timeout))).unwrap();
    let answered: Vec<u64> = r
        .recorded
        .latency_us
        .iter_recorded()
        .map(|v| v.value_iterated_to())
        .filter(|&v| !harness::results::Latency::is_failure(v))
        .collect();
    let slowest = answered.iter().copied().max().unwrap_or(0);
    eprintln!(
        "queued for a connection: {} answered, {} failed or dropped, slowest answer {slowest} µs",
        r.recorded.responses(),
        r.recorded.failed() + r.dropped
    );
    assert!(r.recorded.failed() + r.dropped > 0, "the queue must outgrow the timeout");
    // One deadline from the scheduled time: before, a request could wait 1 s for a
    // connection and then get a fresh 1 s timer.
    assert!(slowest <= 1_010_000, "an answer recorded {slowest} µs after its scheduled time");
}
