//! The one conformance test every framework crate runs against its real binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use workloads::conformance::http::{KeepAlive, Target, send};
use workloads::conformance::{Body, Case, CorpusReport, Observed, check, reference};

/// A server binary started on `--port 0`, killed on drop.
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    pub base_url: String,
    /// Everything the server wrote to stderr so far (also echoed to the test's stderr).
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary --port 0 --workers <workers>` and waits for its `listening on` line.
pub fn spawn(binary: &str, workers: u16) -> Spawned {
    let mut child = Command::new(binary)
        .args(["--port", "0", "--workers", &workers.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut piece = [0u8; 4096];
        while let Ok(n @ 1..) = err_pipe.read(&mut piece) {
            let _ = std::io::stderr().write_all(&piece[..n]);
            sink.lock().expect("stderr buffer").extend_from_slice(&piece[..n]);
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{binary} printed no `listening on` line within 20 s"));
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{binary}: first stdout line is {line:?}, expected `listening on <ip>:<port>`"));
    Spawned { child, base_url: format!("http://{addr}"), stderr }
}

/// Runs the whole committed corpus against `binary` and panics with every failure.
///
/// Beyond the corpus checker (which allows 1e-9 on floats, for other languages), every 200
/// body must equal the in-process reference answer *byte for byte*. Since each Rust server
/// is compared with the same reference, passing this in all four crates shows that the four
/// servers' 200 answers are identical to each other.
pub fn run_conformance(binary: &str) {
    let server = spawn(binary, 2);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let cases = workloads::conformance::corpus();
    let target = Target::parse(&server.base_url).expect("base URL is valid");
    let started = Instant::now();
    let mut report = CorpusReport::default();
    rt.block_on(async {
        for case in &cases {
            let result = match send(&target, case).await {
                Ok(got) => check(case, &got).and_then(|()| same_bytes_as_reference(case, &got)),
                Err(e) => Err(vec![e.to_string()]),
            };
            report.record(case, result);
        }
    });
    assert!(
        report.failed.is_empty(),
        "{binary}: {} of {} cases failed:\n{}",
        report.failed.len(),
        cases.len(),
        report.failures()
    );
    assert_eq!(report.passed.len(), cases.len());
    eprintln!("{binary}: all {} cases passed in {:?}", cases.len(), started.elapsed());
}

fn same_bytes_as_reference(case: &Case, got: &Observed) -> Result<(), Vec<String>> {
    if got.status != 200 {
        return Ok(());
    }
    let want = reference::answer(case).body;
    if got.body == want {
        Ok(())
    } else {
        Err(vec![format!(
            "200 body differs from the reference bytes:\n      got  {:?}\n      want {:?}",
            String::from_utf8_lossy(&got.body[..got.body.len().min(200)]),
            String::from_utf8_lossy(&want[..want.len().min(200)])
        )])
    }
}

/// Requests in the mixed-load check.
pub const MIXED_REQUESTS: usize = 10_000;
const MIXED_CONNECTIONS: usize = 8;

/// Sends [`MIXED_REQUESTS`] valid and invalid requests from the corpus over keep-alive
/// connections. Every answer must carry the case's expected status (so never a 5xx), and
/// the server must still be healthy afterwards. Slow cases (timers, long CPU work) and
/// bodies over the limit are left out to keep the check fast; the corpus run covers them.
pub fn check_mixed_load(binary: &str) {
    let server = spawn(binary, 2);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let cases: Vec<Case> = workloads::conformance::corpus().into_iter().filter(is_fast).collect();
    assert!(cases.len() > 100, "only {} fast cases", cases.len());
    let target = Target::parse(&server.base_url).expect("base URL is valid");
    let started = Instant::now();
    let outcomes = rt.block_on(async {
        let tasks: Vec<_> = (0..MIXED_CONNECTIONS)
            .map(|conn| {
                let (target, cases) = (target.clone(), cases.clone());
                tokio::spawn(async move {
                    let mut ka = KeepAlive::new(target);
                    let mut out = Vec::new();
                    for i in 0..MIXED_REQUESTS / MIXED_CONNECTIONS {
                        // A different stride per connection mixes the cases across connections.
                        let case = &cases[(i * (2 * conn + 1) + conn * 31) % cases.len()];
                        let got = ka.send(case).await.map(|(status, _)| status);
                        out.push((case.name.clone(), case.expect.status, got));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("load task"));
        }
        all
    });
    assert_eq!(outcomes.len(), MIXED_REQUESTS);
    let server_errors = outcomes.iter().filter(|(_, _, got)| matches!(got, Ok(s) if *s >= 500)).count();
    let wrong: Vec<_> = outcomes.iter().filter(|(_, want, got)| got.as_ref().ok() != Some(want)).take(10).collect();
    assert_eq!(server_errors, 0, "{binary}: {server_errors} answers were 5xx");
    assert!(wrong.is_empty(), "{binary}: answers differ from the corpus (first 10): {wrong:#?}");
    let health = workloads::conformance::corpus().into_iter().find(|c| c.name == "health/ok").expect("health case");
    let after = rt.block_on(send(&target, &health)).expect("health after load");
    assert_eq!(after.status, 200, "{binary}: /health after the load");
    eprintln!("{binary}: {MIXED_REQUESTS} mixed requests, no 5xx, in {:?}", started.elapsed());
}

fn is_fast(case: &Case) -> bool {
    let Body::Json(v) = &case.body else {
        return !matches!(case.body, Body::Generated { .. });
    };
    let delay = v.get("token_delay_ms").and_then(|d| d.as_u64()).unwrap_or(0);
    let waits = case.path == "/v1/infer" && v.get("mode").and_then(|m| m.as_str()) == Some("io");
    let latency = v.get("latency_ms").and_then(|d| d.as_u64()).unwrap_or(100);
    let work = v.get("work").and_then(|d| d.as_u64()).unwrap_or(1000);
    let cpu = case.path == "/v1/infer" && v.get("mode").and_then(|m| m.as_str()) == Some("cpu");
    let max_tokens = v.get("max_tokens").and_then(|d| d.as_u64()).unwrap_or(0);
    delay == 0 && !(waits && latency > 0) && !(cpu && work > 10) && max_tokens <= 64
}

/// Sends SIGTERM or SIGINT while a slow request is in flight: the request must complete
/// and the process must exit 0.
pub fn check_graceful_shutdown(binary: &str, signal: i32) {
    let mut server = spawn(binary, 1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let target = workloads::conformance::http::Target::parse(&server.base_url).unwrap();
    let case = workloads::conformance::Case {
        name: "shutdown/in-flight-io-300ms".into(),
        method: "POST".into(),
        path: "/v1/infer".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: workloads::conformance::Body::Json(workloads::payloads::infer_io(300, 1)),
        chunked: false,
        expect: workloads::conformance::Expect { status: 200, ..Default::default() },
    };
    let pid = server.child.id();
    let got = rt.block_on(async {
        let inflight = tokio::spawn({
            let target = target.clone();
            async move { workloads::conformance::http::send(&target, &case).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // SAFETY-free: `kill` via the command line keeps this crate free of unsafe code.
        let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill");
        assert!(status.success());
        inflight.await.expect("join")
    });
    let got = got.unwrap_or_else(|e| panic!("{binary}: in-flight request failed during shutdown: {e}"));
    assert_eq!(got.status, 200, "{binary}: in-flight request got {}", got.status);
    let deadline = Instant::now() + Duration::from_secs(12);
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "{binary} did not exit within 12 s of signal {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{binary} exited with {status} after signal {signal}");
}

/// Resident set size of `pid` from /proc (Linux).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim();
    kib.parse::<u64>().ok().map(|k| k * 1024)
}

/// Runs the whole hostile corpus (workloads/hostile/cases.jsonl) against `binary`, then
/// requires that the server is still alive, answers `/health` within 1 s, grew its RSS by
/// less than [`workloads::hostile::RSS_GROWTH_LIMIT`], and logged no panic. Panics with every failure.
pub fn run_hostile(binary: &str) {
    use workloads::hostile::{RSS_GROWTH_LIMIT, corpus, panic_lines, raw};
    let mut server = spawn(binary, 2);
    let authority = raw::authority(&server.base_url).expect("base URL is valid").to_owned();
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(100));
    let idle = rss_bytes(pid).expect("RSS of the server");
    let cases = corpus();
    let started = Instant::now();
    let report = raw::run_corpus(&authority, &cases);
    let mut problems = Vec::new();
    if !report.failed.is_empty() {
        problems.push(format!("{} of {} cases failed:\n{}", report.failed.len(), cases.len(), report.failures()));
    }
    if let Some(status) = server.child.try_wait().expect("wait") {
        problems.push(format!("the server exited during the corpus: {status}"));
    } else {
        if let Err(e) = raw::health_within(&authority, Duration::from_secs(1)) {
            problems.push(format!("after the corpus: {e}"));
        }
        let after = rss_bytes(pid).unwrap_or(0);
        if after >= idle + RSS_GROWTH_LIMIT {
            problems.push(format!("RSS grew from {idle} to {after} bytes (limit: idle + {RSS_GROWTH_LIMIT})"));
        }
    }
    let logged = String::from_utf8_lossy(&server.stderr.lock().expect("stderr buffer")).into_owned();
    if let Some(line) = panic_lines(&logged).first() {
        problems.push(format!("the server logged a panic: {line}"));
    }
    assert!(problems.is_empty(), "{binary}: hostile corpus:\n{}", problems.join("\n"));
    eprintln!("{binary}: all {} hostile cases passed, no 5xx, in {:?}", cases.len(), started.elapsed());
}

/// Defines the per-framework integration tests for the binary `$bin`.
#[macro_export]
macro_rules! conformance_tests {
    ($bin:literal) => {
        #[test]
        fn passes_the_whole_conformance_corpus() {
            $crate::testing::run_conformance(env!(concat!("CARGO_BIN_EXE_", $bin)));
        }

        #[test]
        fn passes_the_whole_hostile_corpus_and_stays_healthy() {
            $crate::testing::run_hostile(env!(concat!("CARGO_BIN_EXE_", $bin)));
        }

        #[test]
        fn survives_10000_mixed_valid_and_invalid_requests_without_5xx() {
            $crate::testing::check_mixed_load(env!(concat!("CARGO_BIN_EXE_", $bin)));
        }

        #[test]
        fn sigterm_lets_in_flight_requests_finish_and_exits_0() {
            $crate::testing::check_graceful_shutdown(env!(concat!("CARGO_BIN_EXE_", $bin)), 15);
        }

        #[test]
        fn sigint_lets_in_flight_requests_finish_and_exits_0() {
            $crate::testing::check_graceful_shutdown(env!(concat!("CARGO_BIN_EXE_", $bin)), 2);
        }
    };
}

/// Cases that each framework's in-process test (no socket) sends through its app entry
/// point: one of each status a handler produces, the SSE stream with no delay included.
pub fn in_process_cases() -> Vec<Case> {
    const NAMES: &[&str] = &[
        "health/ok",
        "predict/ok/linear-1row",
        "predict/ok/explain-top-k-32-mlp",
        "predict/model/unknown-enum",
        "predict/json/truncated",
        "predict/content-type/missing",
        "predict/limit/over-by-1-content-length",
        "generate/ok/64-tokens-no-delay",
        "infer/ok/io-0ms",
        "infer/ok/cpu-work-1",
        "routing/404-get-unknown",
        "routing/405-get-predict",
    ];
    let cases: Vec<Case> =
        workloads::conformance::corpus().into_iter().filter(|c| NAMES.contains(&c.name.as_str())).collect();
    assert_eq!(cases.len(), NAMES.len(), "an in-process case is missing from the corpus");
    cases
}

/// The case as an `http::Request` with an explicit Content-Length, for frameworks that
/// take `http` types in-process (axum, hyper).
pub fn http_request(case: &Case) -> http::Request<Vec<u8>> {
    let mut req = http::Request::builder().method(case.method.as_str()).uri(case.path.as_str());
    for (k, v) in &case.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let body = case.body.bytes();
    req.header("content-length", body.len()).body(body).expect("corpus requests are valid")
}

/// Reads an in-process `http::Response` (axum, hyper) and judges it with [`judge_in_process`].
pub async fn judge_http_response<B>(case: &Case, resp: http::Response<B>)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let status = resp.status().as_u16();
    let headers = resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
    let body = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
    judge_in_process(case, status, headers, body);
}

/// Judges an in-process answer like the HTTP test does (checker plus byte identity).
pub fn judge_in_process(case: &Case, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) {
    let got = Observed { status, headers, chunks: vec![(Duration::ZERO, body.len())], body };
    if let Err(why) = check(case, &got).and_then(|()| same_bytes_as_reference(case, &got)) {
        panic!("in-process {}: {}", case.name, why.join("; "));
    }
}
