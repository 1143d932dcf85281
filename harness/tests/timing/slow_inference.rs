//! The streaming, in-flight and probe measurements against test servers whose behaviour is
//! known: a first token 50 ms after the send (headers at once), 1 MiB held per in-flight
//! request, and cpu requests that block the server's only worker.

use crate::common;
use crate::refserver;

use std::time::Duration;

use harness::driver::{self, LoadSpec, Mode, PayloadSet, Stop};
use refserver::Knobs;

fn closed(connections: usize, warmup_ms: u64, window_ms: u64) -> LoadSpec {
    LoadSpec {
        mode: Mode::Closed { connections },
        warmup: Duration::from_millis(warmup_ms),
        stop: Stop::Duration(Duration::from_millis(window_ms)),
        request_timeout: Duration::from_secs(5),
    }
}

/// TTFT runs to the first *token event*, not to the response headers: the server sends
/// headers at once and the first token after 40 + 10 ms.
#[test]
fn ttft_is_timed_to_the_first_token_within_ten_percent() {
    let _exclusive = common::exclusive();
    let url = refserver::start_in_process(Knobs { first_token_delay: Duration::from_millis(40), ..Knobs::default() });
    let r = common::client_runtime()
        .block_on(driver::run(&url, PayloadSet::generate(4, 10), closed(4, 200, 1500)))
        .unwrap();
    assert_eq!(r.recorded.errors.total(), 0, "{:?} {:?}", r.recorded.errors, r.recorded.mismatches);
    let s = r.recorded.stream.as_ref().unwrap();
    assert!(s.streams_complete >= 20 && s.streams_incomplete == 0, "{} / {}", s.streams_complete, s.streams_incomplete);
    let ttft = s.ttft_us.value_at_quantile(0.5) as f64;
    eprintln!("TTFT p50 {ttft} µs, expected 50,000 µs");
    assert!((ttft - 50_000.0).abs() <= 5_000.0, "TTFT p50 {ttft} µs is not within 10% of 50 ms");
    // The later tokens keep their 10 ms spacing.
    let itl = s.itl_us.value_at_quantile(0.5) as f64;
    assert!((9_000.0..13_000.0).contains(&itl), "ITL p50 {itl} µs");
}

const CHILD_ENV: &str = "MLAPI_TEST_REFSERVER_HOLD_BYTES";
const HOLD: usize = 1 << 20;

/// Not a test of its own: the body of the child process that `bytes_per_inflight_request…`
/// starts (this test binary, re-run with CHILD_ENV set). Without the variable it returns.
#[test]
fn child_server_entry() {
    let Ok(hold) = std::env::var(CHILD_ENV) else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    refserver::serve(listener, Knobs { hold_bytes: hold.parse().unwrap(), ..Knobs::default() });
}

/// The child's test name as libtest knows it: its module path within the test binary.
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::child_server_entry"),
        None => "child_server_entry".into(),
    }
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server that holds 1 MiB per in-flight request must read as about 1 MiB per request:
/// the same sampler and fit the harness uses, on a separate server process.
#[test]
fn bytes_per_inflight_request_within_25_percent_of_a_known_buffer() {
    let _exclusive = common::exclusive();
    use std::io::BufRead;
    let mut child = Child(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &child_test_name(), "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, HOLD.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("child printed its port").unwrap();
        // libtest prints "test …child_server_entry ... " on the same line first.
        if let Some((_, p)) = line.split_once("PORT ") {
            break p.trim().parse::<u16>().unwrap();
        }
    };
    let url = format!("http://127.0.0.1:{port}");
    let pid = child.0.id() as i32;
    let sampler = harness::sampler::Sampler::start(Some(pid));
    let rt = common::client_runtime();
    let mut levels = Vec::new();
    for c in [16usize, 48, 96] {
        let r = rt.block_on(driver::run(&url, PayloadSet::infer_io(400), closed(c, 500, 1600))).unwrap();
        assert_eq!(r.recorded.errors.total(), 0, "{:?}", r.recorded.errors);
        let w = sampler.window(r.window_start, r.window_end, 1);
        // As the harness fits it: PSS over the requests the server held.
        let held = harness::analysis::held_concurrency(r.throughput_rps(), Duration::from_millis(400)).unwrap();
        levels.push((held, w.pss_mean_bytes.unwrap()));
    }
    let fit = harness::analysis::rss_fit(None, &levels).unwrap();
    eprintln!("levels (held, PSS) {levels:?}: {:.0} B per in-flight request (r2 {:.3})", fit.slope_bytes, fit.r2);
    let err = (fit.slope_bytes - HOLD as f64).abs() / HOLD as f64;
    assert!(err <= 0.25, "{:.0} B per request is {:.0}% off the {HOLD} B held", fit.slope_bytes, err * 100.0);
}

/// A server whose cpu requests block its only worker delays the probe by up to a request's
/// length; one that runs them on its blocking pool does not.
#[test]
fn probe_sees_a_blocked_worker_and_not_a_blocking_pool() {
    let _exclusive = common::exclusive();
    let rt = common::client_runtime();
    let probe_p99 = |k: Knobs| {
        let url = refserver::start_in_process(k);
        let idle = rt
            .block_on(driver::run(
                &url,
                PayloadSet::health(),
                harness::probe::probe_spec(
                    50.0,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                    Duration::from_secs(5),
                ),
            ))
            .unwrap();
        let (load, probe) = rt
            .block_on(harness::probe::run_with_probe(&url, PayloadSet::infer_cpu(1), closed(2, 200, 2000), 50.0))
            .unwrap();
        assert_eq!(load.recorded.errors.total() + probe.recorded.errors.total(), 0);
        assert!(probe.recorded.responses() >= 90, "{} probes", probe.recorded.responses());
        (idle.recorded.latency_us.value_at_quantile(0.99), probe.recorded.latency_us.value_at_quantile(0.99))
    };
    let (idle, blocked) = probe_p99(Knobs { block_worker: Duration::from_millis(25), ..Knobs::default() });
    let (_, pooled) = probe_p99(Knobs { blocking_pool: Duration::from_millis(25), ..Knobs::default() });
    eprintln!("probe p99: idle {idle} µs, blocked worker {blocked} µs, blocking pool {pooled} µs");
    // Blocked: a probe can wait behind up to two 25 ms requests. The bounds are relative so
    // that a noisy machine (which lifts every probe alike) does not decide the outcome.
    assert!(blocked >= 15_000, "a blocked worker should delay the probe; p99 {blocked} µs");
    assert!(pooled * 2 < blocked, "the blocking pool should spare the probe: {pooled} µs vs blocked {blocked} µs");
    assert!(idle * 2 < blocked, "idle probe p99 {idle} µs vs blocked {blocked} µs");
}

/// infer-io's overhead (latency − L) has its own histogram, read to 0.1% of itself (issue 15,
/// item 3): taken off the latency histogram, a 200 ms latency's bucket is 128 µs, so every
/// published overhead sat on a bucket edge.
#[test]
fn io_overhead_is_read_to_the_microsecond() {
    let _exclusive = common::exclusive();
    let url = refserver::start_in_process(Knobs::default());
    let r =
        common::client_runtime().block_on(driver::run(&url, PayloadSet::infer_io(200), closed(4, 300, 1600))).unwrap();
    assert_eq!(r.recorded.errors.total(), 0, "{:?} {:?}", r.recorded.errors, r.recorded.mismatches);
    let (lat, over) = (&r.recorded.latency_us, &r.recorded.overhead_us);
    assert_eq!(over.len(), lat.len(), "one overhead per answered request");
    let (l50, o50) = (lat.value_at_quantile(0.5), over.value_at_quantile(0.5));
    eprintln!(
        "latency p50 {l50} µs (bucket {} µs), overhead p50 {o50} µs (bucket {} µs)",
        lat.equivalent_range(l50),
        over.equivalent_range(o50)
    );
    assert!(o50 < 5_000, "the reference server adds little to its 200 ms: {o50} µs");
    // 3 significant digits of the overhead itself: 1 µs below 2 ms, 2 µs below 4 ms.
    assert!(over.equivalent_range(o50) as f64 <= (o50 as f64 / 1000.0).max(1.0), "overhead to 0.1% of itself");
    assert!(lat.equivalent_range(l50) >= 128, "the latency histogram's bucket at 200 ms");
    assert!(o50.abs_diff(l50 - 200_000) <= lat.equivalent_range(l50), "the two agree within the coarser bucket");
}
