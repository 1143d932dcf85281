//! The `chat` workload against the mock model server (its binary, pinned apart from the
//! driver, for the timing; in-process for the counts), whose schedule is the ground truth:
//! TTFT, ITL, TPOT and E2EL as the schedule implies them (within max(3%, 0.5 ms) at the
//! median and 10% at p99), the fallback token count without usage, the role chunk kept out
//! of our TTFT and in vLLM's, and broken streams counted as failures.

use crate::common;

use std::time::Duration;

use harness::driver::payloads::ChatRequests;
use harness::driver::{self, Arrival, LoadResult, LoadSpec, Mode, PayloadSet, Stop};
use harness::slo::ChatLimits;
use mock_llm::{Config, Fault, UsageMode};

const TOKENS: u64 = 32;

/// TTFT 60 ms, 20 ms per chunk, every 4th chunk 2 tokens, a role-only chunk first: 32 tokens
/// come in 26 output chunks, the last 60 + 25 × 20 = 560 ms after the request. (At 10 ms per
/// chunk the gaps' p99 sat at the bound: this 2-core VM stalls a process for 1–2 ms a few
/// times a second, which is 10–20% of a 10 ms gap; the bounds are the same at 20 ms.)
const SCHEDULE: &str = "--ttft-ms 60 --itl-ms 20 --two-token-every 4 --usage request";
const ITL_MS: u64 = 20;

/// [`SCHEDULE`] as an in-process configuration (for the tests of counts, not of timing).
fn schedule() -> Config {
    Config {
        ttft: Duration::from_millis(60),
        itl: Duration::from_millis(ITL_MS),
        role_chunk: true,
        two_token_every: Some(4),
        usage: UsageMode::Request,
        ..Config::default()
    }
}

const CHUNKS: u64 = 26;

fn requests() -> ChatRequests {
    ChatRequests { model: "mock-llm".into(), max_tokens: TOKENS, prompts: 8, prompt_words: vec![16, 64], seed: 1 }
}

fn run(base_url: &str, mode: Mode, limits: ChatLimits) -> LoadResult {
    let spec = LoadSpec {
        mode,
        warmup: Duration::from_millis(700),
        stop: Stop::Duration(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
    };
    common::client_runtime().block_on(driver::run(base_url, PayloadSet::chat(&requests(), limits), spec)).unwrap()
}

fn within(what: &str, got_us: u64, want_us: f64, rel: f64, abs_us: f64) {
    let tol = (want_us * rel).max(abs_us);
    assert!(
        (got_us as f64 - want_us).abs() <= tol,
        "{what}: {got_us} µs, the schedule says {want_us:.0} µs ± {tol:.0}"
    );
}

/// Every figure the schedule implies, over [`WINDOWS`] windows of one point (as the harness's
/// rounds): the medians from the merged windows, the p99s as the median of the windows'
/// p99s, each within its bound. (A single window's p99 of a few hundred gaps is the 4th
/// largest gap, and this 2-core VM stalls a process for 2–5 ms a few times a second: one
/// stall in one window moved a 20 ms gap's p99 by 2–4 ms.)
fn check_schedule(windows: &[LoadResult], label: &str, usage: bool) {
    let mut merged = harness::driver::ChatRecorder::default();
    for r in windows {
        let rec = &r.recorded;
        assert_eq!(rec.failed(), 0, "{label}: {:?} {:?}", rec.errors, rec.mismatches);
        merged.merge_from(rec.chat.as_ref().expect("chat figures"));
    }
    let c = &merged;
    assert!(c.streams_complete >= 30, "{label}: only {} streams", c.streams_complete);
    assert_eq!(c.streams_incomplete, 0);
    let q = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q);
    let itl = ITL_MS as f64 * 1e3;
    let (ttft, e2el) = (60_000.0, 60_000.0 + (CHUNKS - 1) as f64 * itl);
    let tokens = if usage { TOKENS } else { CHUNKS };
    let tpot = (e2el - ttft) / (tokens - 1) as f64;
    type Pick = fn(&harness::driver::ChatRecorder) -> &hdrhistogram::Histogram<u64>;
    let figures: [(&str, Pick, f64); 4] = [
        ("TTFT", |c| &c.ttft_us, ttft),
        ("ITL", |c| &c.itl_us, itl),
        ("TPOT", |c| &c.tpot_us, tpot),
        ("E2EL", |c| &c.e2el_us, e2el),
    ];
    for (name, pick, want) in figures {
        let mut p99s: Vec<u64> =
            windows.iter().map(|r| q(pick(r.recorded.chat.as_ref().expect("chat figures")), 0.99)).collect();
        p99s.sort_unstable();
        let p50 = q(pick(c), 0.5);
        eprintln!("{label}: {name} p50 {p50} µs, windows' p99 {p99s:?} µs (schedule {want:.0} µs)");
        within(&format!("{label} {name} p50"), p50, want, 0.03, 500.0);
        within(&format!("{label} {name} median p99"), p99s[p99s.len() / 2], want, 0.10, 500.0);
    }
    assert_eq!(c.output_chunks, CHUNKS * c.streams_complete, "{label}");
    assert_eq!(c.output_tokens, tokens * c.streams_complete, "{label}");
    let (from_usage, from_chunks) = if usage { (c.streams_complete, 0) } else { (0, c.streams_complete) };
    assert_eq!((c.tokens_from_usage, c.tokens_from_chunks), (from_usage, from_chunks), "{label}: the token source");
    // The role chunk leaves at once: vLLM's rule stops its TTFT there.
    assert!(q(&c.ttft_vllm_us, 0.5) < 5_000, "{label}: vLLM-rule TTFT p50 {} µs", q(&c.ttft_vllm_us, 0.5));
}

/// Windows of one point. Five, not three: the median p99 then needs three windows hit by a
/// stall, not two (with three, a clean-clone CI run read the no-usage gaps' median p99 at
/// 22.5 ms against the 22 ms bound, 2026-12-03; the bounds are unchanged).
const WINDOWS: usize = 5;

fn rounds(base_url: &str, mode: Mode) -> Vec<LoadResult> {
    (0..WINDOWS).map(|_| run(base_url, mode, ChatLimits::default())).collect()
}

#[test]
fn chat_figures_are_the_mocks_schedule_closed_and_open() {
    let _exclusive = common::exclusive();
    // A halted vCPU of these VMs takes hundreds of µs to wake: a cost of the machine, not of
    // the figures under test (`common::keep_awake`).
    let _awake = common::keep_awake(&harness::target::affinity(0));
    let mock = common::start_mock_binary(SCHEDULE);
    let url = mock.base_url.clone();
    // One closed-loop level here: at c=16 the median of three windows' gap p99 still read
    // 22.6 ms once in three runs of this debug build beside its driver (the release harness,
    // pinned, reads c=4 and c=16 within the bounds: docs/metrics.md, "Chat").
    check_schedule(&rounds(&url, Mode::Closed { connections: 8 }), "closed c=8", true);
    let open = Mode::Open { rate_rps: 20.0, arrival: Arrival::Poisson { seed: 3 }, max_connections: 64 };
    check_schedule(&rounds(&url, open), "open 20/s", true);
    let bursty = Mode::Open { rate_rps: 20.0, arrival: Arrival::Gamma { shape: 0.5, seed: 3 }, max_connections: 64 };
    check_schedule(&rounds(&url, bursty), "open 20/s gamma b=0.5", true);
}

/// Without a usage chunk the tokens are the output chunks, and the report says so.
#[test]
fn without_usage_the_output_chunks_are_counted_and_recorded_as_the_fallback() {
    let _exclusive = common::exclusive();
    let _awake = common::keep_awake(&harness::target::affinity(0));
    let mock = common::start_mock_binary(&SCHEDULE.replace("--usage request", "--usage never"));
    let url = mock.base_url.clone();
    check_schedule(&rounds(&url, Mode::Closed { connections: 8 }), "no usage", false);
}

/// Goodput counts the requests within every objective: all of them under loose limits, none
/// under a TTFT limit below the schedule's 60 ms.
#[test]
fn goodput_counts_the_requests_within_every_objective() {
    let _exclusive = common::exclusive();
    let mock = mock_llm::spawn_on_thread(schedule());
    let url = format!("http://{}", mock.addr);
    let limits = |s: &str| ChatLimits::of(&harness::slo::parse(s).unwrap());
    let loose = run(&url, Mode::Closed { connections: 4 }, limits("chat.ttft=200ms,chat.tpot=50ms"));
    let c = loose.recorded.chat.as_ref().unwrap();
    assert_eq!(c.good, c.streams_complete);
    let tight = run(&url, Mode::Closed { connections: 4 }, limits("chat.ttft=30ms"));
    assert_eq!(tight.recorded.chat.as_ref().unwrap().good, 0);
    let repeat = harness::analysis::chat_repeat(c, loose.window().as_secs_f64(), loose.throughput_rps(), true);
    let goodput = repeat.goodput_rps.unwrap();
    assert!(goodput > 0.0 && goodput <= loose.throughput_rps(), "goodput {goodput} vs {}", loose.throughput_rps());
}

/// A stream cut before `[DONE]`, an error event, a 200 that is not SSE and a 500 are each a
/// failed request: incomplete, their latency and TTFT "> timeout".
#[test]
fn broken_streams_are_failed_requests() {
    let _exclusive = common::exclusive();
    for (fault, kind) in [
        (Fault::Cut { after: 3 }, "reset"),
        (Fault::ErrorEvent { after: 3 }, "reset"),
        (Fault::NonSse, "reset"),
        (Fault::Status500, "unexpected_status"),
    ] {
        let mock = mock_llm::spawn_on_thread(Config {
            fault: Some(fault.clone()),
            ttft: Duration::from_millis(5),
            itl: Duration::from_millis(2),
            ..schedule()
        });
        let r = run(&format!("http://{}", mock.addr), Mode::Closed { connections: 2 }, ChatLimits::default());
        let rec = &r.recorded;
        let c = rec.chat.as_ref().expect("chat figures");
        assert!(c.streams_incomplete >= 10, "{fault:?}: {} incomplete", c.streams_incomplete);
        assert_eq!(c.streams_complete, 0, "{fault:?}");
        let errors = match kind {
            "reset" => rec.errors.reset,
            _ => rec.errors.unexpected_status,
        };
        assert_eq!(errors, c.streams_incomplete, "{fault:?}: {:?}", rec.errors);
        assert!(harness::results::Latency::is_failure(rec.latency_us.value_at_quantile(0.5)), "{fault:?}");
        assert!(harness::results::Latency::is_failure(c.ttft_us.value_at_quantile(0.5)), "{fault:?}");
        assert_eq!(c.itl_us.len(), 0, "{fault:?}: ITL holds complete streams only");
        if matches!(fault, Fault::ErrorEvent { .. } | Fault::NonSse) {
            assert!(!rec.mismatches.is_empty(), "{fault:?}: the reason is kept");
        }
    }
}
