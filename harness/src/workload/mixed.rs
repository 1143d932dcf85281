//! The `mixed` workload: a realistic traffic scenario run with goose (docs/metrics.md,
//! "Mixed traffic"). Weighted transactions: predict 70%, generate 20% (its time to first
//! token recorded as a goose custom request), infer-io 10%, each user thinking briefly
//! between transactions.
//!
//! goose is embedded through `GooseAttack::initialize_with_config`, so it never reads the
//! harness's argv, and every default that would not suit a benchmark is overridden here:
//! no telnet or WebSocket controller (port 5116; goose 0.19's WebSocket controller is off unless asked for), an explicit ramp-up rate instead of
//! 1 user/s, an explicit user count instead of the number of CPUs, and an explicit run time
//! instead of running until stopped. goose's Ctrl-C handler is not installed: the harness's
//! own handler (`crate::interrupt`) is registered first and stops the servers.
//!
//! Beside goose's own per-request metrics (copied into results.json), every transaction
//! records its whole exchange (send → last body byte) into one HdrHistogram, so the point's
//! `latency_us` means what it means everywhere else in results.json.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use hdrhistogram::Histogram;

use serde::Serialize;

use super::{Profile, ProfileName, Spec, Step, Workload};
use crate::results::{Latency, MixedSummary, MixedTransaction, Point, Repeat};
use crate::sampler::Sampler;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// goose users.
    #[serde(rename = "mixed_users")]
    pub users: usize,
    /// goose's measured run time (after all users started).
    #[serde(rename = "mixed_duration", with = "super::secs")]
    pub duration: Duration,
}

pub fn settings(p: ProfileName) -> Settings {
    match p {
        ProfileName::Quick => Settings { users: 32, duration: Duration::from_secs(4) },
        ProfileName::Standard => Settings { users: 128, duration: Duration::from_secs(20) },
        ProfileName::Full => Settings { users: 256, duration: Duration::from_secs(60) },
    }
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.mixed;
        vec![Step::Goose { users: s.users, duration: s.duration }]
    }
}

/// Transaction weights, in percent.
pub const WEIGHTS: [(Workload, usize); 3] = [(Workload::Predict, 70), (Workload::Generate, 20), (Workload::InferIo, 10)];
/// Think time between a user's transactions.
pub const THINK: (Duration, Duration) = (Duration::from_millis(50), Duration::from_millis(150));
/// Tokens per generate stream in the scenario (20 ms apart, as in `generate`).
pub const STREAM_TOKENS: u64 = 16;

/// What the transactions share: prepared bodies and the whole-exchange histogram.
struct Shared {
    predict: Vec<serde_json::Value>,
    generate: Vec<serde_json::Value>,
    infer: Vec<serde_json::Value>,
    exchange_us: Mutex<Histogram<u64>>,
    bad_streams: std::sync::atomic::AtomicU64,
    next: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn record(&self, started: Instant) {
        let us = (started.elapsed().as_micros() as u64).clamp(1, crate::driver::MAX_LATENCY_US);
        self.exchange_us.lock().expect("histogram lock").saturating_record(us);
    }
}

impl Shared {
    /// The next body of `v`, in rotation across all users.
    fn pick<'a>(&self, v: &'a [serde_json::Value]) -> &'a serde_json::Value {
        &v[self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % v.len()]
    }
}

/// One JSON exchange read to its last byte; a failure unless it is a complete 200.
async fn json_exchange(user: &mut GooseUser, s: &Shared, path: &str, body: &serde_json::Value) -> TransactionResult {
    let started = Instant::now();
    let mut g = user.post_json(path, body).await?;
    let ok = match g.response {
        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
        Err(_) => false,
    };
    s.record(started);
    if !ok {
        let tag = format!("{path}: not a complete 200");
        return user.set_failure(&tag, &mut g.request, None, None);
    }
    Ok(())
}

async fn predict(user: &mut GooseUser, s: Arc<Shared>) -> TransactionResult {
    json_exchange(user, &s, "/v1/predict", s.pick(&s.predict)).await
}

async fn infer_io(user: &mut GooseUser, s: Arc<Shared>) -> TransactionResult {
    json_exchange(user, &s, "/v1/infer", s.pick(&s.infer)).await
}

/// goose times a request to its response headers; the stream is read here, its first token
/// event timed from the send (TTFT) and its events counted.
async fn generate(user: &mut GooseUser, s: Arc<Shared>) -> TransactionResult {
    let started = Instant::now();
    let mut g = user.post_json("/v1/generate", s.pick(&s.generate)).await?;
    let mut ttft = None;
    let (mut tokens, mut done) = (0u64, false);
    let mut ok = false;
    if let Ok(mut r) = g.response
        && r.status() == 200
    {
        let mut parser = workloads::sse::SseParser::new();
        let mut events = Vec::new();
        ok = loop {
            match r.chunk().await {
                Ok(Some(chunk)) => {
                    parser.feed(&chunk, &mut events);
                    for ev in events.drain(..) {
                        if ev.data == "[DONE]" {
                            done = true;
                        } else if ev.event.is_empty() || ev.event == "token" {
                            tokens += 1;
                            ttft.get_or_insert_with(|| started.elapsed());
                        }
                    }
                }
                Ok(None) => break done && tokens == STREAM_TOKENS,
                Err(_) => break false,
            }
        };
    }
    s.record(started);
    if let Some(t) = ttft {
        user.record_custom_request_duration("SSE", "generate TTFT", t, ok, None, None).await?;
    }
    if !ok {
        s.bad_streams.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return user.set_failure("generate: incomplete or wrong stream", &mut g.request, None, None);
    }
    Ok(())
}

/// Where a goose run reports: its HTML report's directory, the client CPUs it has.
#[derive(Debug)]
pub struct Output<'a> {
    pub dir: &'a std::path::Path,
    pub client_cpus: usize,
}

/// Runs the scenario against `base_url` and returns its point.
pub fn run(
    p: &Profile,
    out: Output,
    rt: &tokio::runtime::Runtime,
    sampler: &Sampler,
    base_url: &str,
    target: &str,
) -> anyhow::Result<Point> {
    let (s, stream, io) = (&p.workloads.mixed, &p.workloads.generate, &p.workloads.infer_io);
    let shared = Arc::new(Shared {
        predict: (0..16u64)
            .map(|i| workloads::payloads::predict(1, if i % 2 == 0 { "linear" } else { "mlp" }, i))
            .collect(),
        generate: (0..16u64)
            .map(|i| workloads::payloads::generate(STREAM_TOKENS, stream.token_delay_ms, i))
            .collect(),
        infer: (0..16u64).map(|i| workloads::payloads::infer_io(io.latency_ms, i)).collect(),
        exchange_us: Mutex::new(crate::driver::Recorder::default().latency_us),
        bad_streams: Default::default(),
        next: Default::default(),
    });
    let report = format!("{target}.goose.html");
    let attack = GooseAttack::initialize_with_config(config(s, base_url, &out.dir.join(&report)))
        .context("goose rejected its configuration")?
        .register_scenario(scenario(&shared)?);
    let start = Instant::now();
    let metrics =
        rt.block_on(crate::interrupt::unless_signalled(async { attack.execute().await.context("goose failed") }))?;
    let end = Instant::now();
    sampler.mark();
    // goose resets its metrics once every user has started: its figures cover `duration`
    // seconds at full load. The sampler's window is the same tail of the run.
    let measured = Duration::from_secs(metrics.duration.max(1) as u64);
    let ws = sampler.window(end.checked_sub(measured).unwrap_or(start), end, out.client_cpus);

    let transactions = transactions(&metrics, measured);
    let http: Vec<&MixedTransaction> = transactions.iter().filter(|t| !t.name.starts_with("SSE ")).collect();
    let requests: u64 = http.iter().map(|t| t.requests).sum();
    let failures: u64 = http.iter().map(|t| t.failures).sum();
    let throughput = requests as f64 / measured.as_secs_f64();
    let hist = shared.exchange_us.lock().expect("histogram lock").clone();
    // Over the window, as every other figure of the point: goose's ramp-up, wind-down and
    // HTML report are outside it.
    let client_cpu_us = crate::analysis::client_cpu_us_per_request(
        ws.client_cpu_share,
        out.client_cpus,
        measured.as_secs_f64(),
        requests,
    );
    let repeat = Repeat {
        throughput_rps: throughput,
        responses: requests,
        window_s: measured.as_secs_f64(),
        latency_us: Latency::of(&hist),
        cpu_us_per_request: ws.server_cpu_rate.filter(|_| throughput > 0.0).map(|r| r * 1e6 / throughput),
        rss_peak_bytes: ws.rss_peak_bytes,
        rss_mean_bytes: ws.rss_mean_bytes,
        client_cpu_share: ws.client_cpu_share,
        statuses: Default::default(),
        errors: crate::results::ErrorCounts { unexpected_status: failures, ..Default::default() },
        scheduled: 0,
        dropped: 0,
        bodies_checked: 0,
        connections_opened: 0,
        mismatches: Vec::new(),
        streaming: None,
        completed_in_window: Some(requests),
        thirds_p50_us: None,
        due_in_window: None,
        // goose's failures are its own (no timeout to rank them by): their latencies
        // stay in goose's histogram as measured.
        failed: 0,
        answered_mean_us: None,
        alignment_wait_s: 0.0,
        pss_mean_bytes: ws.pss_mean_bytes,
        sampler_cpu_share: ws.sampler_cpu_share,
        send_lag_us: None,
        overhead_us: None,
        round: Some(1),
        neighbour_cpu: None,
        answered_of_window: None,
        chat: None,
    };
    let basis = format!(
        "goose {} users, think {}–{} ms, weights {}",
        s.users,
        THINK.0.as_millis(),
        THINK.1.as_millis(),
        WEIGHTS.iter().map(|(w, pct)| format!("{} {pct}%", w.name())).collect::<Vec<_>>().join(" ")
    );
    // One goose run is one repeat: the point's figures and flags follow the same rules as
    // every other point's (analysis::point), `single_run` among them.
    let mode = crate::driver::Mode::Closed { connections: s.users };
    let mut point = crate::analysis::point(Workload::Mixed, mode, Some(basis), vec![repeat], Latency::of(&hist));
    point.summary.mixed = Some(MixedSummary {
        users: s.users,
        transactions,
        goose_report: Some(report),
        client_cpu_us_per_request: client_cpu_us,
    });
    Ok(point)
}

/// The weighted transactions, each user thinking between them.
fn scenario(shared: &Arc<Shared>) -> anyhow::Result<Scenario> {
    let (s1, s2, s3) = (shared.clone(), shared.clone(), shared.clone());
    Ok(scenario!("ml-api")
        .set_wait_time(THINK.0, THINK.1)?
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(predict(u, s1.clone()))))
                .set_name(WEIGHTS[0].0.name())
                .set_weight(WEIGHTS[0].1)?,
        )
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(generate(u, s2.clone()))))
                .set_name(WEIGHTS[1].0.name())
                .set_weight(WEIGHTS[1].1)?,
        )
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(infer_io(u, s3.clone()))))
                .set_name(WEIGHTS[2].0.name())
                .set_weight(WEIGHTS[2].1)?,
        ))
}

/// goose's configuration: every default that would not suit a benchmark overridden (the
/// module doc says which and why).
fn config(s: &Settings, base_url: &str, report: &std::path::Path) -> GooseConfiguration {
    let mut gc = GooseConfiguration::default();
    gc.host = Some(base_url.to_owned());
    gc.users = Some(s.users);
    // Ramp up in about two seconds, whatever the user count (goose's default is 1 user/s).
    gc.increase_rate = Some(format!("{}", (s.users as f64 / 2.0).max(1.0)));
    gc.run_time = Some(format!("{}", s.duration.as_secs().max(1)));
    gc.no_telnet = true;
    gc.no_print_metrics = true;
    gc.quiet = 1;
    gc.report_file = vec![report.to_string_lossy().into_owned()];
    gc.timeout = Some(format!("{}", super::REQUEST_TIMEOUT.as_secs()));
    gc
}

/// goose's per-request figures over the `measured` seconds at full load, by name.
fn transactions(metrics: &goose::metrics::GooseMetrics, measured: Duration) -> Vec<MixedTransaction> {
    let mut transactions: Vec<MixedTransaction> = metrics
        .requests
        .iter()
        .map(|(key, agg)| {
            let t = &agg.raw_data;
            let n = (agg.success_count + agg.fail_count) as u64;
            MixedTransaction {
                name: key.clone(),
                requests: n,
                failures: agg.fail_count as u64,
                rps: n as f64 / measured.as_secs_f64(),
                latency_us: Latency::gated(n, t.maximum_time_us, |q| t.percentile_us(q as f32)),
            }
        })
        .collect();
    transactions.sort_by(|a, b| a.name.cmp(&b.name));
    transactions
}
