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

use crate::plan::RunConfig;
use crate::results::{Latency, MixedSummary, MixedTransaction, Point, PointSummary, Repeat};
use crate::sampler::Sampler;

/// Transaction weights, in percent.
pub const WEIGHTS: [(&str, usize); 3] = [("predict", 70), ("generate", 20), ("infer-io", 10)];
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

/// Runs the scenario against `base_url` and returns its point.
pub fn run(
    cfg: &RunConfig,
    rt: &tokio::runtime::Runtime,
    sampler: &Sampler,
    base_url: &str,
    target: &str,
) -> anyhow::Result<Point> {
    let p = &cfg.profile;
    let shared = Arc::new(Shared {
        predict: (0..16u64)
            .map(|i| workloads::payloads::predict(1, if i % 2 == 0 { "linear" } else { "mlp" }, i))
            .collect(),
        generate: (0..16u64)
            .map(|i| workloads::payloads::generate(STREAM_TOKENS, p.generate_token_delay_ms, i))
            .collect(),
        infer: (0..16u64).map(|i| workloads::payloads::infer_io(p.inflight_latency_ms, i)).collect(),
        exchange_us: Mutex::new(crate::driver::Recorder::default().latency_us),
        bad_streams: Default::default(),
        next: Default::default(),
    });
    let s1 = shared.clone();
    let s2 = shared.clone();
    let s3 = shared.clone();
    let scenario = scenario!("ml-api")
        .set_wait_time(THINK.0, THINK.1)?
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(predict(u, s1.clone()))))
                .set_name("predict")
                .set_weight(WEIGHTS[0].1)?,
        )
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(generate(u, s2.clone()))))
                .set_name("generate")
                .set_weight(WEIGHTS[1].1)?,
        )
        .register_transaction(
            Transaction::new(Arc::new(move |u| Box::pin(infer_io(u, s3.clone()))))
                .set_name("infer-io")
                .set_weight(WEIGHTS[2].1)?,
        );

    let report = format!("{target}.goose.html");
    let mut gc = GooseConfiguration::default();
    gc.host = Some(base_url.to_owned());
    gc.users = Some(p.mixed_users);
    // Ramp up in about two seconds, whatever the user count (goose's default is 1 user/s).
    gc.increase_rate = Some(format!("{}", (p.mixed_users as f64 / 2.0).max(1.0)));
    gc.run_time = Some(format!("{}", p.mixed_duration.as_secs().max(1)));
    gc.no_telnet = true;
    gc.no_print_metrics = true;
    gc.quiet = 1;
    gc.report_file = vec![cfg.out_dir.join(&report).to_string_lossy().into_owned()];
    gc.timeout = Some(format!("{}", crate::plan::REQUEST_TIMEOUT.as_secs()));

    let attack = GooseAttack::initialize_with_config(gc)
        .context("goose rejected its configuration")?
        .register_scenario(scenario);
    let start = Instant::now();
    let cpu0 = crate::sampler::own_cpu_seconds();
    let metrics =
        rt.block_on(crate::interrupt::unless_signalled(async { attack.execute().await.context("goose failed") }))?;
    let cpu1 = crate::sampler::own_cpu_seconds();
    let end = Instant::now();
    sampler.mark();
    // goose resets its metrics once every user has started: its figures cover `duration`
    // seconds at full load. The sampler's window is the same tail of the run.
    let measured = Duration::from_secs(metrics.duration.max(1) as u64);
    let ws = sampler.window(end.checked_sub(measured).unwrap_or(start), end, cfg.client_cpus.len());

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
                latency_us: Latency {
                    p50: t.percentile_us(0.50),
                    p90: t.percentile_us(0.90),
                    p99: t.percentile_us(0.99),
                    p999: t.percentile_us(0.999),
                    max: t.maximum_time_us,
                },
            }
        })
        .collect();
    transactions.sort_by(|a, b| a.name.cmp(&b.name));
    let http: Vec<&MixedTransaction> = transactions.iter().filter(|t| !t.name.starts_with("SSE ")).collect();
    let requests: u64 = http.iter().map(|t| t.requests).sum();
    let failures: u64 = http.iter().map(|t| t.failures).sum();
    let throughput = requests as f64 / measured.as_secs_f64();
    let hist = shared.exchange_us.lock().expect("histogram lock").clone();
    let client_cpu_us = (requests > 0).then(|| (cpu1 - cpu0) * 1e6 / requests as f64);
    let mut flags = Vec::new();
    if ws.client_cpu_share > crate::analysis::CLIENT_BOUND_SHARE {
        flags.push("client_bound".to_owned());
    }
    if failures > 0 {
        flags.push("errors".to_owned());
    }
    flags.push("single_run".to_owned());
    let cpu = ws.server_cpu_rate.filter(|_| throughput > 0.0).map(|r| r * 1e6 / throughput);
    let errors = crate::results::ErrorCounts { unexpected_status: failures, ..Default::default() };
    let repeat = Repeat {
        throughput_rps: throughput,
        responses: requests,
        window_s: measured.as_secs_f64(),
        latency_us: Latency::of(&hist),
        cpu_us_per_request: cpu,
        rss_peak_bytes: ws.rss_peak_bytes,
        rss_mean_bytes: ws.rss_mean_bytes,
        client_cpu_share: ws.client_cpu_share,
        statuses: Default::default(),
        errors,
        scheduled: 0,
        dropped: 0,
        bodies_checked: 0,
        connections_opened: 0,
        mismatches: Vec::new(),
        streaming: None,
    };
    let spread = crate::stats::summarize(&[throughput]).context("no goose throughput")?;
    Ok(Point {
        workload: "mixed".into(),
        mode: "closed".into(),
        connections: p.mixed_users,
        rate_rps: None,
        rate_basis: Some(format!(
            "goose {} users, think {}–{} ms, weights predict {}% generate {}% infer-io {}%",
            p.mixed_users,
            THINK.0.as_millis(),
            THINK.1.as_millis(),
            WEIGHTS[0].1,
            WEIGHTS[1].1,
            WEIGHTS[2].1
        )),
        arrival: None,
        summary: PointSummary {
            throughput_rps: spread.into(),
            latency_us: Latency::of(&hist),
            cpu_us_per_request: cpu,
            rss_peak_bytes: ws.rss_peak_bytes,
            client_cpu_share: ws.client_cpu_share,
            errors: failures,
            dropped: 0,
            flags,
            streaming: None,
            rss_mean_bytes: ws.rss_mean_bytes,
            inflight: None,
            probe: None,
            mixed: Some(MixedSummary {
                users: p.mixed_users,
                transactions,
                goose_report: Some(report),
                client_cpu_us_per_request: client_cpu_us,
            }),
        },
        repeats: vec![repeat],
    })
}
