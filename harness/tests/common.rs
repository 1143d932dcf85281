//! Test helpers shared by the harness's integration tests: tiny in-test servers on port 0.

#![allow(dead_code)]

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
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("fw-hyper");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds every server) or `cargo build -p fw-hyper` first",
        bin.display()
    );
    let mut m = harness::manifest::Manifest::load(&workspace().join("frameworks/hyper/framework.toml")).unwrap();
    m.start = format!("{} --port {{port}} --workers {{workers}}", bin.display());
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
