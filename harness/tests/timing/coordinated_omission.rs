//! A server that stalls every request for 200 ms once a second. The open loop, which times
//! from the scheduled send, must see the stall in its tail; the closed loop hides it
//! (coordinated omission), which is why headline latencies come from the open loop.
//! docs/methodology.md explains the difference.

use crate::common;

use std::time::{Duration, Instant};

use harness::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};

const STALL: Duration = Duration::from_millis(200);
const PERIOD: Duration = Duration::from_secs(1);

#[test]
fn open_loop_sees_the_stall_that_closed_loop_hides() {
    let _exclusive = common::exclusive();
    let t0 = Instant::now();
    let url = common::start_server(move |arrived: Instant| async move {
        // During the first 200 ms of every second, requests wait until the stall ends.
        let phase = Duration::from_nanos(((arrived - t0).as_nanos() % PERIOD.as_nanos()) as u64);
        if phase < STALL {
            tokio::time::sleep(STALL - phase).await;
        }
    });
    let rt = common::client_runtime();
    let open = LoadSpec {
        mode: Mode::Open { rate_rps: 200.0, arrival: Arrival::Constant, max_connections: 256 },
        warmup: Duration::ZERO,
        stop: Stop::Duration(Duration::from_secs(3)),
        request_timeout: Duration::from_secs(5),
    };
    let o = rt.block_on(driver::run(&url, PayloadSet::health(), open)).unwrap();
    let (o50, o99) = (o.recorded.latency_us.value_at_quantile(0.5), o.recorded.latency_us.value_at_quantile(0.99));

    let closed = LoadSpec {
        mode: Mode::Closed { connections: 4 },
        warmup: Duration::ZERO,
        stop: Stop::Duration(Duration::from_secs(3)),
        request_timeout: Duration::from_secs(5),
    };
    let c = rt.block_on(driver::run(&url, PayloadSet::health(), closed)).unwrap();
    let (c50, c99) = (c.recorded.latency_us.value_at_quantile(0.5), c.recorded.latency_us.value_at_quantile(0.99));
    eprintln!(
        "open loop 200 req/s: p50 {o50} µs, p99 {o99} µs ({} responses); closed loop 4 connections: p50 {c50} µs, p99 {c99} µs ({} responses)",
        o.recorded.responses(),
        c.recorded.responses()
    );
    assert_eq!(o.recorded.errors.total(), 0);
    assert!(o99 >= 150_000, "open-loop p99 {o99} µs must show the 200 ms stall");
    assert!(o50 < 10_000, "open-loop p50 {o50} µs must stay low");
    // The closed loop sends only 4 requests into each stall and thousands outside it.
    assert!(c99 < 150_000, "closed-loop p99 {c99} µs was expected to hide the stall");
}
