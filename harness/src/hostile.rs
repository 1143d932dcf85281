//! Robustness: the hostile corpus, then slow clients and clients that vanish mid-stream,
//! against one running target. What it finds is reported, never hidden: a 5xx, a crash, a
//! panic in the log, memory that does not come back (docs/metrics.md, "Robustness").
//!
//! Everything here talks to the target over plain sockets and reads its process from /proc;
//! it needs no runtime and never links a framework.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use workloads::hostile::{self, raw};

use crate::plan::TargetSource;
use crate::results::{Disconnect, DisconnectCycle, Failure, Robustness, Slowloris, Verification};
use crate::sampler;

pub use workloads::hostile::{RSS_GROWTH_LIMIT, panic_lines};
/// `/health` must answer within this after the corpus and during slowloris.
pub const HEALTH_LIMIT: Duration = Duration::from_secs(1);

/// What to run besides the corpus.
#[derive(Debug, Clone)]
pub struct Options {
    /// Slowloris: connections, and how long they drip their headers.
    pub slowloris: Option<(usize, Duration)>,
    /// Disconnect mid-stream: streams opened, then dropped.
    pub disconnect: Option<DisconnectSpec>,
}

#[derive(Debug, Clone, Copy)]
pub struct DisconnectSpec {
    pub streams: usize,
    pub max_tokens: u64,
    pub token_delay_ms: u64,
    pub drop_after: Duration,
    /// CPU must be back to idle within this, and RSS within `rss_tolerance` of before.
    pub settle: Duration,
    pub rss_tolerance: f64,
    /// Cycles that bring the allocator to its high-water mark, reported but not judged;
    /// then `judged_cycles` cycles, whose mean RSS change per cycle must meet the bar.
    pub warmup_cycles: usize,
    pub judged_cycles: usize,
}

impl Default for DisconnectSpec {
    /// The figures: 500 streams of 4,096 tokens 10 ms apart, dropped after 200 ms.
    /// Two warm-up cycles, then three judged: on the Rust servers glibc's retained heap has
    /// mostly stopped growing by the third cycle (docs/metrics.md, "Robustness", has the
    /// series).
    fn default() -> Self {
        DisconnectSpec {
            streams: 500,
            max_tokens: 4096,
            token_delay_ms: 10,
            drop_after: Duration::from_millis(200),
            settle: Duration::from_secs(2),
            rss_tolerance: 0.10,
            warmup_cycles: 2,
            judged_cycles: 3,
        }
    }
}

impl Default for Options {
    /// The figures: 200 slow connections for 10 s (beyond the 5 s header timeouts),
    /// and the default disconnect.
    fn default() -> Self {
        Options { slowloris: Some((200, Duration::from_secs(10))), disconnect: Some(DisconnectSpec::default()) }
    }
}

fn tree_rss(pid: i32) -> Option<u64> {
    let sizes: Vec<u64> = sampler::process_tree(pid).iter().filter_map(|&p| sampler::rss_bytes(p)).collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

fn tree_cpu(pid: i32) -> Option<f64> {
    let secs: Vec<f64> = sampler::process_tree(pid).iter().filter_map(|&p| sampler::cpu_seconds(p)).collect();
    (!secs.is_empty()).then(|| secs.iter().sum())
}

/// Runs the corpus and the options against `base_url`. `pid` is the server's root process
/// (None for `--url` targets: no RSS or crash figures), `stderr_log` its log file.
pub fn measure(
    base_url: &str,
    pid: Option<i32>,
    stderr_log: Option<&Path>,
    opts: &Options,
) -> anyhow::Result<Robustness> {
    let authority = raw::authority(base_url)
        .ok_or_else(|| anyhow::anyhow!("base URL {base_url:?} is not of the form http://host:port"))?
        .to_owned();
    let cases = hostile::corpus();
    let idle = pid.and_then(tree_rss);
    let report = raw::run_corpus(&authority, &cases);
    let crashed = pid.is_some_and(|p| !sampler::is_alive(p)) || report.refused > 0;
    let health_after = raw::health_within(&authority, HEALTH_LIMIT);
    let after = pid.and_then(tree_rss);
    let log = stderr_log.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let mut r = Robustness {
        cases: cases.len(),
        passed: report.passed.len(),
        failures: Failure::all(&report.failed),
        server_errors: report.server_errors,
        crashes: usize::from(crashed),
        health_after_ms: health_after.as_ref().ok().map(|d| d.as_secs_f64() * 1e3),
        health_after_error: health_after.err(),
        idle_rss_bytes: idle,
        rss_after_bytes: after,
        rss_growth_bytes: idle.zip(after).map(|(i, a)| a as i64 - i as i64),
        panics_logged: panic_lines(&log),
        slowloris: None,
        disconnect: None,
        ok: false,
    };
    if !crashed {
        if let Some((n, d)) = opts.slowloris {
            r.slowloris = Some(slowloris(&authority, n, d));
        }
        if let (Some(spec), Some(pid)) = (opts.disconnect, pid) {
            r.disconnect = Some(disconnect(&authority, pid, spec));
        }
    }
    // The corpus may not have crashed the server, but the later steps may have.
    if pid.is_some_and(|p| !sampler::is_alive(p)) {
        r.crashes = 1;
    }
    let log = stderr_log.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    r.panics_logged = panic_lines(&log);
    r.ok = r.verdict().is_empty();
    Ok(r)
}

/// Connections that send a request head one byte per second, with `/health` probed beside
/// them twice a second.
pub fn slowloris(authority: &str, connections: usize, duration: Duration) -> Slowloris {
    let started = Instant::now();
    let mut conns: Vec<Option<TcpStream>> = (0..connections)
        .map(|_| {
            let s = TcpStream::connect(authority).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        })
        .collect();
    let opened = conns.iter().filter(|c| c.is_some()).count();
    let head = format!("GET /health HTTP/1.1\r\nhost: {authority}\r\nx-slow: ");
    let mut closed_at: Vec<Duration> = Vec::new();
    let probe = {
        let authority = authority.to_owned();
        std::thread::spawn(move || {
            let mut times = Vec::new();
            let mut failed = 0;
            let end = Instant::now() + duration;
            while Instant::now() < end {
                match raw::health_within(&authority, HEALTH_LIMIT) {
                    Ok(t) => times.push(t),
                    Err(_) => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            (times, failed)
        })
    };
    let mut sent = 0usize;
    while started.elapsed() < duration {
        let byte = head.as_bytes().get(sent).copied().unwrap_or(b'a');
        for slot in conns.iter_mut() {
            let Some(s) = slot else { continue };
            let mut buf = [0u8; 512];
            let gone = match s.read(&mut buf) {
                Ok(_) => true, // closed (0) or answered (a 408): either way the server is done with it
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => true,
            } || s.write(&[byte]).is_err();
            if gone {
                closed_at.push(started.elapsed());
                *slot = None;
            }
        }
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    let (times, failed) = probe.join().unwrap_or_default();
    let max = times.iter().max().copied();
    Slowloris {
        connections,
        opened,
        duration_s: duration.as_secs_f64(),
        probes: times.len() + failed,
        probes_failed: failed,
        health_max_ms: max.map(|d| d.as_secs_f64() * 1e3),
        health_ok: failed == 0 && !times.is_empty(),
        closed_by_server: closed_at.len(),
        first_close_s: closed_at.first().map(Duration::as_secs_f64),
    }
}

fn change_pct(before: u64, after: u64) -> f64 {
    if before == 0 { 0.0 } else { (after as f64 - before as f64) / before as f64 * 100.0 }
}

/// Opens `streams` generate streams, drops them all after `drop_after`, and watches the
/// server's CPU and RSS settle; `warmup_cycles + judged_cycles` times. The warm-up cycles
/// grow the allocator to its high-water mark (glibc keeps freed memory for reuse, and does
/// not give it back while anything lives above it); a judged cycle shows whether a cycle
/// leaves memory behind. All are reported; the RSS verdict is on the judged ones, the CPU
/// verdict on all (docs/metrics.md).
pub fn disconnect(authority: &str, pid: i32, spec: DisconnectSpec) -> Disconnect {
    let cycles: Vec<DisconnectCycle> = (0..spec.warmup_cycles + spec.judged_cycles.max(1))
        .map(|i| DisconnectCycle { judged: i >= spec.warmup_cycles, ..cycle(authority, pid, spec) })
        .collect();
    judge(spec, cycles)
}

/// The verdict over measured cycles (separate from the measuring, for tests). The RSS
/// verdict is on the mean change per judged cycle: from RSS before the first judged cycle to
/// RSS after the last, divided by their number. A leak adds about the same every cycle and
/// shows in full; RSS that wobbles by a few hundred KiB from cycle to cycle (glibc's heap
/// steps up and back) cancels out instead of deciding the verdict (docs/metrics.md,
/// "Robustness").
fn judge(spec: DisconnectSpec, cycles: Vec<DisconnectCycle>) -> Disconnect {
    let first = cycles.first().cloned().unwrap_or_default();
    let judged: Vec<&DisconnectCycle> = cycles.iter().filter(|c| c.judged).collect();
    let (start, end) = match (judged.first(), judged.last()) {
        (Some(a), Some(b)) => (a.rss_before_bytes, b.rss_after_bytes),
        _ => (0, 0),
    };
    let per_cycle = change_pct(start, end) / judged.len().max(1) as f64;
    let last = judged.last().copied().cloned().unwrap_or_default();
    Disconnect {
        streams: spec.streams,
        opened: last.opened,
        answering: last.answering,
        max_tokens: spec.max_tokens,
        token_delay_ms: spec.token_delay_ms,
        dropped_after_ms: spec.drop_after.as_secs_f64() * 1e3,
        idle_cpu_cores: last.idle_cpu_cores,
        loaded_cpu_cores: last.loaded_cpu_cores,
        // The slowest cycle; none when one never got back to idle.
        cpu_idle_after_s: cycles.iter().try_fold(0.0f64, |slowest, c| c.cpu_idle_after_s.map(|s| slowest.max(s))),
        cpu_ok: cycles.iter().all(|c| c.cpu_idle_after_s.is_some_and(|s| s <= spec.settle.as_secs_f64())),
        warmup_cycles: cycles.iter().filter(|c| !c.judged).count(),
        rss_before_bytes: start,
        rss_after_bytes: end,
        rss_change_pct: per_cycle,
        rss_ok: !judged.is_empty() && start > 0 && per_cycle.abs() <= spec.rss_tolerance * 100.0,
        first_cycle_rss_before_bytes: first.rss_before_bytes,
        first_cycle_rss_after_bytes: first.rss_after_bytes,
        first_cycle_rss_change_pct: first.rss_change_pct,
        first_cycle_cpu_idle_after_s: first.cpu_idle_after_s,
        cycles,
    }
}

fn cycle(authority: &str, pid: i32, spec: DisconnectSpec) -> DisconnectCycle {
    const WINDOW: Duration = Duration::from_millis(250);
    let cpu_rate = |over: Duration| {
        let (c0, t0) = (tree_cpu(pid).unwrap_or(0.0), Instant::now());
        std::thread::sleep(over);
        (tree_cpu(pid).unwrap_or(0.0) - c0) / t0.elapsed().as_secs_f64()
    };
    // Idle CPU rate over one second, before anything.
    let idle_cpu = cpu_rate(Duration::from_secs(1));
    let rss_before = tree_rss(pid).unwrap_or(0);
    let body = serde_json::to_string(&workloads::payloads::generate(spec.max_tokens, spec.token_delay_ms, 1))
        .expect("serialises");
    let request = format!(
        "POST /v1/generate HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let (c0, t0) = (tree_cpu(pid).unwrap_or(0.0), Instant::now());
    let mut streams = Vec::with_capacity(spec.streams);
    for _ in 0..spec.streams {
        if let Ok(mut s) = TcpStream::connect(authority)
            && s.write_all(request.as_bytes()).is_ok()
        {
            streams.push(s);
        }
    }
    let opened = streams.len();
    std::thread::sleep(spec.drop_after);
    let loaded_cpu = (tree_cpu(pid).unwrap_or(0.0) - c0) / t0.elapsed().as_secs_f64();
    // The streams must really have been streaming: some bytes must have arrived.
    let mut answering = 0;
    for s in &mut streams {
        let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
        let mut buf = [0u8; 1024];
        if matches!(s.read(&mut buf), Ok(n) if n > 0) {
            answering += 1;
        }
    }
    let rss_at_drop = tree_rss(pid).unwrap_or(0);
    drop(streams);
    let dropped = Instant::now();
    // Idle again: the first of two consecutive quiet windows. The bar is the idle rate plus
    // 5% of one core (CPU time is counted in 10 ms ticks).
    let quiet = idle_cpu + 0.05;
    let mut back: Option<Duration> = None;
    let mut candidate: Option<Duration> = None;
    let watch = spec.settle * 2 + Duration::from_secs(1);
    while dropped.elapsed() < watch && back.is_none() {
        let at = dropped.elapsed();
        if cpu_rate(WINDOW) <= quiet {
            match candidate {
                Some(c) => back = Some(c),
                None => candidate = Some(at),
            }
        } else {
            candidate = None;
        }
    }
    std::thread::sleep(spec.settle.saturating_sub(dropped.elapsed()));
    let rss_after = tree_rss(pid).unwrap_or(0);
    DisconnectCycle {
        judged: false,
        opened,
        answering,
        idle_cpu_cores: idle_cpu,
        loaded_cpu_cores: loaded_cpu,
        cpu_idle_after_s: back.map(|d| d.as_secs_f64()),
        rss_before_bytes: rss_before,
        rss_at_drop_bytes: rss_at_drop,
        rss_after_bytes: rss_after,
        rss_change_pct: change_pct(rss_before, rss_after),
    }
}

impl Robustness {
    /// Why this target is not robust; empty when it is.
    pub fn verdict(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.failures.is_empty() {
            why.push(format!("{} of {} hostile cases failed", self.failures.len(), self.cases));
        }
        if self.server_errors > 0 {
            why.push(format!("{} answers were 5xx", self.server_errors));
        }
        if self.crashes > 0 {
            why.push("the server died".into());
        }
        if let Some(e) = &self.health_after_error {
            why.push(format!("after the corpus: {e}"));
        }
        if self.rss_growth_bytes.is_some_and(|g| g >= RSS_GROWTH_LIMIT as i64) {
            why.push(format!(
                "RSS grew by {} MiB (limit {})",
                self.rss_growth_bytes.unwrap_or(0) >> 20,
                RSS_GROWTH_LIMIT >> 20
            ));
        }
        if !self.panics_logged.is_empty() {
            why.push(format!("{} panic lines in its log", self.panics_logged.len()));
        }
        why
    }

    /// What the slow-client measurements found wrong (reported beside the verdict, which
    /// covers the corpus: docs/metrics.md, "Robustness").
    pub fn slow_client_findings(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(s) = &self.slowloris
            && !s.health_ok
        {
            why.push(format!("slowloris: /health failed {} of {} probes", s.probes_failed, s.probes));
        }
        if let Some(d) = &self.disconnect {
            if let Some(reason) = d.not_judged_because() {
                // Too few live streams: the CPU and RSS verdicts below would judge nothing.
                why.push(format!("disconnect: {reason}"));
                return why;
            }
            if !d.cpu_ok {
                why.push(format!("disconnect: CPU not back to idle within 2 s ({:?} s)", d.cpu_idle_after_s));
            }
            if !d.rss_ok {
                why.push(format!(
                    "disconnect: RSS changed by {:+.1}% per cycle after {} warm-up cycles (bar ±10%)",
                    d.rss_change_pct, d.warmup_cycles
                ));
            }
        }
        why
    }
}

/// `harness verify --hostile`: one results.json with a `robustness` entry per target,
/// rewritten atomically after each target.
#[derive(Debug)]
pub struct VerifyRun {
    pub out_dir: PathBuf,
    pub options: Options,
    journal: crate::journal::Journal,
}

/// The profile name of a `verify --hostile` run's results.json.
pub use crate::results::VERIFY_PROFILE;

impl VerifyRun {
    pub fn start(root: &Path, out_dir: PathBuf, nofile: u64, options: Options) -> anyhow::Result<Self> {
        let mut environment = crate::env::capture(root);
        environment.nofile_limit = nofile;
        environment.workers = 1;
        // Verification pins nothing: server and client share whatever CPUs the harness has.
        let cpus = crate::target::affinity(0);
        environment.server_cpus = cpus.clone();
        environment.client_cpus = cpus;
        let journal =
            crate::journal::Journal::begin(&out_dir, serde_json::json!({"name": VERIFY_PROFILE}), environment)?;
        Ok(Self { out_dir, options, journal })
    }

    /// Adds one target's figures and rewrites results.json.
    pub fn record(
        &mut self,
        source: &TargetSource,
        root: &Path,
        verification: Verification,
        robustness: Robustness,
    ) -> anyhow::Result<()> {
        // Verification spawns with one worker.
        let mut t = crate::plan::describe(source, root, 1);
        if matches!(source, TargetSource::Manifest(_)) {
            t.idle_rss_bytes = robustness.idle_rss_bytes;
        }
        t.status = crate::results::TargetStatus::Verified;
        t.verification = Some(verification);
        t.robustness = Some(robustness);
        self.journal.add_target(t)?;
        self.journal.finish()
    }

    pub fn table(&self) -> String {
        table(
            &self.journal.results().targets.iter().map(|t| (t.name.clone(), t.robustness.as_ref())).collect::<Vec<_>>(),
        )
    }
}

/// The robustness table, one row per target.
pub fn table(rows: &[(String, Option<&Robustness>)]) -> String {
    let mut out = format!(
        "{:<14} {:>11} {:>4} {:>7} {:>10} {:>10} {:>22} {:>24}  verdict\n",
        "target", "cases", "5xx", "crashes", "RSS growth", "health ms", "slowloris", "disconnect"
    );
    for (name, r) in rows {
        let Some(r) = r else {
            out.push_str(&format!("{name:<14} not measured\n"));
            continue;
        };
        let mib = |b: i64| format!("{:+.1} MiB", b as f64 / (1 << 20) as f64);
        let slow = r.slowloris.as_ref().map_or("-".into(), |s| {
            format!(
                "{} {}, {} cut",
                if s.health_ok { "ok" } else { "FAIL" },
                s.health_max_ms.map_or("no answer".into(), |m| format!("max {m:.0} ms")),
                s.closed_by_server
            )
        });
        let disc = r.disconnect.as_ref().map_or("-".into(), |d| {
            format!(
                "{} idle {}, RSS {:+.1}%/cycle",
                if !d.judged() {
                    "NOT JUDGED"
                } else if d.cpu_ok && d.rss_ok {
                    "ok"
                } else {
                    "FAIL"
                },
                d.cpu_idle_after_s.map_or("never".into(), |s| format!("{s:.2} s")),
                d.rss_change_pct
            )
        });
        let mut verdict = r.verdict();
        verdict.extend(r.slow_client_findings());
        out.push_str(&format!(
            "{:<14} {:>11} {:>4} {:>7} {:>10} {:>10} {:>22} {:>24}  {}\n",
            name,
            format!("{}/{}", r.passed, r.cases),
            r.server_errors,
            r.crashes,
            r.rss_growth_bytes.map_or("-".into(), mib),
            r.health_after_ms.map_or("-".into(), |m| format!("{m:.1}")),
            slow,
            disc,
            if verdict.is_empty() { "ok".to_owned() } else { verdict.join("; ") }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cycles with these RSS figures (before, after), in MiB; all back to idle in 0.5 s.
    fn cycles(rss: &[(u64, u64)]) -> Vec<DisconnectCycle> {
        rss.iter()
            .enumerate()
            .map(|(i, &(before, after))| DisconnectCycle {
                judged: i >= 2,
                cpu_idle_after_s: Some(0.5),
                rss_before_bytes: before << 20,
                rss_after_bytes: after << 20,
                rss_change_pct: change_pct(before << 20, after << 20),
                ..DisconnectCycle::default()
            })
            .collect()
    }

    #[test]
    fn warm_up_growth_is_reported_but_a_leak_in_the_judged_cycles_fails() {
        // glibc's high-water mark: large growth first, then little.
        let d = judge(DisconnectSpec::default(), cycles(&[(4, 14), (14, 17), (17, 17), (17, 18), (18, 18)]));
        assert!(d.rss_ok && d.cpu_ok, "{d:?}");
        assert_eq!(d.first_cycle_rss_change_pct, 250.0);
        assert_eq!((d.warmup_cycles, d.cycles.len()), (2, 5));
        assert_eq!((d.rss_before_bytes >> 20, d.rss_after_bytes >> 20), (17, 18));
        // A leak: 10 → 17 MiB over the 3 judged cycles is +70%, 23.3% a cycle.
        let leak = [(10, 12), (12, 14), (10, 12), (12, 14), (14, 17)];
        let d = judge(DisconnectSpec::default(), cycles(&leak));
        assert!(!d.rss_ok, "{d:?}");
        assert!((d.rss_change_pct - 70.0 / 3.0).abs() < 1e-9, "{}", d.rss_change_pct);
        // RSS that steps down and back up is no leak; one that keeps a step in every cycle is.
        assert!(judge(DisconnectSpec::default(), cycles(&[(4, 4), (4, 4), (20, 22), (22, 19), (19, 21)])).rss_ok);
        assert!(!judge(DisconnectSpec::default(), cycles(&[(4, 4), (4, 4), (20, 23), (23, 26), (26, 29)])).rss_ok);
        // Shrinking by more than the bar is also a change the verdict names.
        assert!(!judge(DisconnectSpec::default(), cycles(&[(4, 4), (4, 4), (20, 10), (10, 5), (5, 2)])).rss_ok);
        // No RSS reading (the process vanished): not ok.
        assert!(!judge(DisconnectSpec::default(), cycles(&[(0, 0); 5])).rss_ok);
    }

    /// The drop shows something only when the streams were live: at least 90% of them
    /// answering in every judged cycle (flask's 32 threads answered 32 of 500).
    #[test]
    fn a_cycle_with_too_few_live_streams_is_not_judged() {
        let spec = DisconnectSpec { streams: 500, ..DisconnectSpec::default() };
        let with = |answering: &[usize]| {
            let mut c = cycles(&[(4, 4); 5]);
            for (cycle, &a) in c.iter_mut().zip(answering) {
                cycle.answering = a;
            }
            judge(spec, c)
        };
        let d = with(&[500, 500, 500, 450, 499]);
        assert!(d.judged() && d.cpu_ok && d.rss_ok && d.not_judged_because().is_none(), "{d:?}");
        // Warm-up cycles do not count; one judged cycle under 90% does.
        assert!(with(&[3, 3, 500, 500, 500]).judged());
        let d = with(&[500, 500, 500, 449, 500]);
        assert!(!d.judged(), "449 of 500 is under 90%");
        let r = Robustness { disconnect: Some(with(&[32, 32, 32, 32, 32])), ..Robustness::default() };
        let findings = r.slow_client_findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].contains("not judged: as few as 32 of 500"), "{findings:?}");
    }

    #[test]
    fn cpu_must_be_idle_after_every_cycle_warm_up_included() {
        let mut c = cycles(&[(4, 4); 5]);
        c[0].cpu_idle_after_s = None;
        let d = judge(DisconnectSpec::default(), c);
        assert!(!d.cpu_ok && d.cpu_idle_after_s.is_none(), "{d:?}");
        let mut c = cycles(&[(4, 4); 5]);
        c[1].cpu_idle_after_s = Some(2.5);
        let d = judge(DisconnectSpec::default(), c);
        assert!(!d.cpu_ok && d.cpu_idle_after_s == Some(2.5), "{d:?}");
        assert!(judge(DisconnectSpec::default(), cycles(&[(4, 4); 5])).cpu_ok);
    }
}
