//! The SSE-aware driver on the real fw-hyper binary: every stream complete and correct,
//! TTFT and inter-token latency close to the requested token delay (the gaps' median
//! within 0.5 ms of it: tokens are paced on an absolute schedule).

use crate::common;

use std::time::Duration;

use harness::driver::{self, LoadSpec, Mode, PayloadSet, Stop};

#[test]
fn generate_streams_report_ttft_and_itl_near_the_token_delay() {
    let _exclusive = common::exclusive();
    let root = common::workspace();
    let logs = std::env::temp_dir().join(format!("mlapi-streaming-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let cpus = harness::target::affinity(0);
    let server = harness::target::spawn(
        &common::fw_hyper_debug_manifest(),
        &root,
        1,
        &cpus,
        &cpus,
        &logs,
        harness::target::READY_TIMEOUT,
    )
    .unwrap();
    // 8 tokens 10 ms apart: a stream lasts about 80 ms.
    let spec = LoadSpec {
        mode: Mode::Closed { connections: 4 },
        warmup: Duration::from_millis(200),
        stop: Stop::Duration(Duration::from_millis(1500)),
        request_timeout: Duration::from_secs(5),
    };
    let r =
        common::client_runtime().block_on(driver::run(&server.base_url, PayloadSet::generate(8, 10), spec)).unwrap();
    assert_eq!(r.recorded.errors.total(), 0, "{:?} {:?}", r.recorded.errors, r.recorded.mismatches);
    let s = r.recorded.stream.as_ref().expect("streaming figures");
    eprintln!(
        "{} streams, {} tokens; TTFT p50 {} µs, ITL p50 {} µs p99 {} µs, TPOT p50 {} µs",
        s.streams_complete,
        s.tokens,
        s.ttft_us.value_at_quantile(0.5),
        s.itl_us.value_at_quantile(0.5),
        s.itl_us.value_at_quantile(0.99),
        s.tpot_us.value_at_quantile(0.5)
    );
    assert!(s.streams_complete >= 20, "only {} streams", s.streams_complete);
    assert_eq!(s.streams_incomplete, 0);
    assert_eq!(s.tokens, 8 * s.streams_complete);
    let ttft = s.ttft_us.value_at_quantile(0.5);
    assert!((10_000..20_000).contains(&ttft), "TTFT p50 {ttft} µs");
    // Tokens on an absolute schedule (docs/contract.md): the gaps' median is the delay
    // within 0.5 ms, whatever tokio's whole-millisecond timer does to each one (with a
    // relative sleep per token, each gap carried tokio's rounding: a 20 ms delay read
    // 21.1–21.2 ms in the example run).
    let itl = s.itl_us.value_at_quantile(0.5);
    assert!((9_500..=10_500).contains(&itl), "ITL p50 {itl} µs");
    let tpot = s.tpot_us.value_at_quantile(0.5);
    assert!((9_500..=10_500).contains(&tpot), "TPOT p50 {tpot} µs");
}
