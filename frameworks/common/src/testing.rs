//! The one conformance test every framework crate runs against its real binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server binary started on `--port 0`, killed on drop.
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    pub base_url: String,
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
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
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
    let addr = line.strip_prefix("listening on ").unwrap_or_else(|| {
        panic!("{binary}: first stdout line is {line:?}, expected `listening on <ip>:<port>`")
    });
    Spawned {
        child,
        base_url: format!("http://{addr}"),
    }
}

/// Runs the whole committed corpus against `binary` and panics with every failure.
pub fn run_conformance(binary: &str) {
    let server = spawn(binary, 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases = workloads::conformance::corpus();
    let started = Instant::now();
    let report = rt
        .block_on(workloads::conformance::http::run_corpus(
            &server.base_url,
            &cases,
        ))
        .expect("base URL is valid");
    assert!(
        report.failed.is_empty(),
        "{binary}: {} of {} cases failed:\n{}",
        report.failed.len(),
        cases.len(),
        report.failures()
    );
    assert_eq!(report.passed.len(), cases.len());
    eprintln!(
        "{binary}: all {} cases passed in {:?}",
        cases.len(),
        started.elapsed()
    );
}

/// Sends SIGTERM or SIGINT while a slow request is in flight: the request must complete
/// and the process must exit 0.
pub fn check_graceful_shutdown(binary: &str, signal: i32) {
    let mut server = spawn(binary, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let target = workloads::conformance::http::Target::parse(&server.base_url).unwrap();
    let case = workloads::conformance::Case {
        name: "shutdown/in-flight-io-300ms".into(),
        method: "POST".into(),
        path: "/v1/infer".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: workloads::conformance::Body::Json(workloads::payloads::infer_io(300, 1)),
        chunked: false,
        expect: workloads::conformance::Expect {
            status: 200,
            ..Default::default()
        },
    };
    let pid = server.child.id();
    let got = rt.block_on(async {
        let inflight = tokio::spawn({
            let target = target.clone();
            async move { workloads::conformance::http::send(&target, &case).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // SAFETY-free: `kill` via the command line keeps this crate free of unsafe code.
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        inflight.await.expect("join")
    });
    let got =
        got.unwrap_or_else(|e| panic!("{binary}: in-flight request failed during shutdown: {e}"));
    assert_eq!(
        got.status, 200,
        "{binary}: in-flight request got {}",
        got.status
    );
    let deadline = Instant::now() + Duration::from_secs(12);
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{binary} did not exit within 12 s of signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{binary} exited with {status} after signal {signal}"
    );
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
        fn sigterm_lets_in_flight_requests_finish_and_exits_0() {
            $crate::testing::check_graceful_shutdown(env!(concat!("CARGO_BIN_EXE_", $bin)), 15);
        }

        #[test]
        fn sigint_lets_in_flight_requests_finish_and_exits_0() {
            $crate::testing::check_graceful_shutdown(env!(concat!("CARGO_BIN_EXE_", $bin)), 2);
        }
    };
}
