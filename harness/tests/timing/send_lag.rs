//! The open loop records its own send lag (scheduled time → the request's task running), so
//! a driver that falls behind its schedule is seen and flagged `client_lag` rather than
//! credited to the server (issue 15, item 5).

use crate::common;

use std::time::{Duration, Instant};

use harness::analysis::client_lag;
use harness::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};
use harness::results::Latency;

fn spec() -> LoadSpec {
    LoadSpec {
        mode: Mode::Open { rate_rps: 200.0, arrival: Arrival::Constant, max_connections: 64 },
        warmup: Duration::from_millis(200),
        stop: Stop::Duration(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
    }
}

#[test]
fn a_driver_behind_its_schedule_is_seen_and_flagged() {
    let _exclusive = common::exclusive();
    let url = common::start_server(|_| tokio::time::sleep(Duration::from_millis(2)));
    // One thread, as the harness runs with one client CPU: a task that blocks it delays
    // every request scheduled meanwhile.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let free = rt.block_on(driver::run(&url, PayloadSet::health(), spec())).unwrap();
    let (lat, lag) = (Latency::of(&free.recorded.latency_us), Latency::of(&free.recorded.send_lag_us));
    eprintln!(
        "free driver: latency {lat:?}, send lag {lag:?}, errors {:?}, dropped {}",
        free.recorded.errors, free.dropped
    );
    assert_eq!(lag.n, Some(free.scheduled), "one send lag per request of the window");
    assert!(lag.p50 < 1_000, "an idle driver starts a request within 1 ms of its schedule: {lag:?}");
    assert!(!client_lag(&lat, &lag), "latency {lat:?}, lag {lag:?}");
    // No request failed or was dropped, so none sits at the failure value (an empty
    // `record_n` of dropped requests once put every open-loop maximum there).
    assert_eq!((free.recorded.failed(), free.dropped), (0, 0));
    assert!(!Latency::is_failure(lat.max), "max {} µs with no failure", lat.max);

    let hogged = rt.block_on(async {
        // Blocks the driver's only thread for 8 ms of every 10 (a slow client).
        let stop = Instant::now() + Duration::from_millis(2300);
        let hog = tokio::spawn(async move {
            while Instant::now() < stop {
                std::thread::sleep(Duration::from_millis(8));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let r = driver::run(&url, PayloadSet::health(), spec()).await;
        hog.await.unwrap();
        r
    });
    let r = hogged.unwrap();
    let (lat, lag) = (Latency::of(&r.recorded.latency_us), Latency::of(&r.recorded.send_lag_us));
    eprintln!("hogged driver: latency {lat:?}, send lag {lag:?}");
    let tail = lag.p90.unwrap();
    assert!(tail >= 4_000, "requests scheduled while the thread was blocked waited for it: {lag:?}");
    assert!(client_lag(&lat, &lag), "a driver 4+ ms late on a 2 ms server must be flagged: {lat:?} {lag:?}");
}
