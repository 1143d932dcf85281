//! Test helpers shared by the harness's integration tests: tiny in-test servers on port 0.

#![allow(dead_code)]

/// Set in a child process to the name of the one test it runs.
const OWN_PROCESS_ENV: &str = "MLAPI_TEST_OWN_PROCESS";

/// Runs the calling test's `body` in a fresh process of its own (this test binary again,
/// filtered to `module::name`), holding [`exclusive`] meanwhile: for tests that measure
/// their own process, or whose timing must not depend on what earlier tests left in it
/// (threads, memory). `module` is the caller's `module_path!()`. In the child, it runs `body`.
pub fn in_own_process(module: &str, name: &str, body: fn()) {
    match std::env::var(OWN_PROCESS_ENV) {
        Ok(n) if n == name => return body(),
        Ok(_) => return,
        Err(_) => {}
    }
    let _exclusive = exclusive();
    let test = match module.split_once("::") {
        Some((_, m)) => format!("{m}::{name}"),
        None => name.to_owned(),
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads", "1"])
        .env(OWN_PROCESS_ENV, name)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its own process:\n{text}");
    assert!(text.contains("test result: ok. 1 passed"), "{name} did not run in its own process:\n{text}");
    eprint!("{text}");
}

/// Held by every test that loads the machine or times something, for its whole run: on two
/// cores, a second such test beside it would stretch the very figures it checks.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static EXCLUSIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// While it lives, keeps `cpus` out of their idle state: one thread per CPU spins at
/// `SCHED_IDLE`, the lowest priority there is, so any thread that wakes on that CPU takes it
/// at once, as from an idle CPU, but without the exit from the halted state. On these VMs
/// (firecracker, cpuidle `haltpoll`) a halted vCPU takes hundreds of µs to wake, and one
/// request wakes a CPU four times (schedule, server read, server timer, client read): a cost
/// of the machine, not of the driver, that a test of the driver's own timing must not count.
pub use harness::target::KeepAwake;

pub fn keep_awake(cpus: &[usize]) -> KeepAwake {
    harness::target::keep_awake(cpus).unwrap_or_else(|e| panic!("{e:#}"))
}

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Starts a server on 127.0.0.1:0 whose every answer is `{"status":"ok"}` after `delay(now)`
/// has elapsed; returns its base URL. It runs on its own runtime thread until the process ends.
pub fn start_server<F, Fut>(delay: F) -> String
where
    F: Fn(Instant) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let delay = delay.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let wait = delay(Instant::now());
                        async move {
                            wait.await;
                            let mut r = Response::new(Full::new(Bytes::from_static(br#"{"status":"ok"}"#)));
                            r.headers_mut().insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    format!("http://{addr}")
}

/// A client runtime for driving load from a test.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// fw-hyper's manifest, pointed at the debug binary cargo built for this test run
/// (target/debug next to this test) and with no build step.
pub fn fw_hyper_debug_manifest() -> harness::manifest::Manifest {
    let m = harness::manifest::Manifest::load(&workspace().join("frameworks/hyper/framework.toml")).unwrap();
    debug_manifest(m)
}

/// A Rust target's manifest pointed at the debug binary `cargo test --workspace` built
/// beside this test (target/debug), with no build step; others unchanged.
pub fn debug_manifest(mut m: harness::manifest::Manifest) -> harness::manifest::Manifest {
    if m.language != "rust" {
        return m;
    }
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let (bin, args) = m.start.split_once(' ').unwrap_or((&m.start, ""));
    let name = Path::new(bin).file_name().unwrap().to_owned();
    let path = debug.join(&name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds every server) or `cargo build -p {}` first",
        path.display(),
        name.to_string_lossy()
    );
    m.start = format!("{} {args}", path.display());
    m.build = "true".into();
    m
}

/// A Python server that is ready (its `/health` answer is right) but gives that same answer
/// to every request, so it fails the contract. Run as `python3 <file> <port>`.
pub const WRONG_ANSWERS_PY: &str = "import sys, http.server\n\
class H(http.server.BaseHTTPRequestHandler):\n\
\x20   def answer(self):\n\
\x20       self.send_response(200); self.send_header('content-type','application/json'); self.send_header('content-length','15'); self.end_headers(); self.wfile.write(b'{\"status\":\"ok\"}')\n\
\x20   do_GET = do_POST = do_PUT = do_DELETE = answer\n\
\x20   def log_message(self, *a): pass\n\
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

/// A run of `targets` already built (debug binaries, the venv) on the default pinning (server
/// CPU 0, client CPU 1), progress printed, results into `out`.
pub fn run_config(
    targets: Vec<harness::plan::TargetSource>,
    workloads: Vec<harness::results::Workload>,
    profile: harness::workload::Profile,
    out: PathBuf,
    cpu_work: Option<u64>,
) -> harness::plan::RunConfig {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    harness::plan::RunConfig {
        root: workspace(),
        targets,
        workloads,
        profile,
        out_dir: out,
        server_cpus: vec![0],
        client_cpus: vec![1 % cpus],
        workers: None,
        build: false,
        ready_timeout: Duration::from_secs(30),
        stop_timeout: harness::target::STOP_TIMEOUT,
        hostile: false,
        progress: true,
        cpu_work,
        seed: None,
        invocation: None,
    }
}

/// Starts the mock model server's binary (`target/debug/mock-llm`, built by
/// `cargo test --workspace`) with `args`, pinned to CPU 0 as a target would be, the test's
/// driver keeping CPU 1: the ground truth of the chat tests then runs as it does under the
/// harness, apart from the process that measures it. Stopped when the returned value drops.
pub fn start_mock_binary(args: &str) -> harness::target::Running {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("mock-llm");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p mock-llm` (cargo test --workspace does)",
        bin.display()
    );
    let m = harness::manifest::Manifest {
        name: "mock-llm".into(),
        language: "rust".into(),
        display_name: "mock-llm".into(),
        framework_crate: "hyper".into(),
        framework_version: "mock".into(),
        build: String::new(),
        start: format!("{} --port {{port}} {args}", bin.display()),
        readiness_path: "/health".into(),
        server_setup: "the mock model server".into(),
        python_requires: Vec::new(),
        overhead_over: None,
        dir: workspace().join("tools/mock-llm"),
        root: None,
    };
    let logs = std::env::temp_dir().join(format!("mlapi-mock-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    harness::target::spawn(&m, &workspace(), 1, &[0], &[1 % cpus], &logs, Duration::from_secs(10)).unwrap()
}
