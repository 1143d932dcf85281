//! What the framework crates' tests share: a start-up check of the real binary, and the
//! in-process cases and judges their `app()` tests use. The contract itself is checked for
//! every target in one suite, `harness/tests/servers/contract.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use workloads::conformance::http::{Target, send};
use workloads::conformance::{Case, Observed, check, reference};

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

/// Defines the framework crate's integration test for the binary `$bin`: that it starts
/// on `--port 0`, announces its port, answers `/health` and exits 0 on SIGTERM. Every check
/// of the contract runs in the one suite for all targets, Rust and Python alike
/// (`harness/tests/servers/contract.rs`), on the binary this test makes `cargo test` build.
#[macro_export]
macro_rules! conformance_tests {
    ($bin:literal) => {
        #[test]
        fn starts_answers_health_and_exits_0_on_sigterm() {
            $crate::testing::check_starts(env!(concat!("CARGO_BIN_EXE_", $bin)));
        }
    };
}

/// Starts `binary`, asks `/health` (200), then SIGTERM: it must exit 0.
pub fn check_starts(binary: &str) {
    let mut server = spawn(binary, 1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let target = Target::parse(&server.base_url).expect("base URL is valid");
    let health = workloads::conformance::corpus().into_iter().find(|c| c.name == "health/ok").expect("health case");
    let got = rt.block_on(send(&target, &health)).unwrap_or_else(|e| panic!("{binary}: /health: {e}"));
    assert_eq!(got.status, 200, "{binary}: /health");
    // `kill` via the command line keeps this crate free of unsafe code.
    let pid = server.child.id();
    assert!(Command::new("kill").arg("-15").arg(pid.to_string()).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(12);
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "{binary} did not exit within 12 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{binary} exited with {status} after SIGTERM");
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
