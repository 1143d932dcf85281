//! A contract-speaking test server built on the in-process reference
//! (`workloads::conformance::reference::answer`), so the driver's checks pass, with knobs
//! that give it a *known* behaviour to measure: an extra delay before the first SSE token,
//! a buffer held per request, and cpu-mode requests that block the only worker.

#![allow(dead_code)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use workloads::conformance::{Body, Case, reference};

#[derive(Debug, Clone, Copy, Default)]
pub struct Knobs {
    /// Added before the first SSE chunk (headers go out at once).
    pub first_token_delay: Duration,
    /// Bytes allocated, written and held for the life of each `/v1/infer` request.
    pub hold_bytes: usize,
    /// cpu-mode `/v1/infer` blocks the runtime's only thread this long (what a handler that
    /// runs CPU work on the event loop does), instead of answering at once.
    pub block_worker: Duration,
    /// cpu-mode `/v1/infer` waits this long on the blocking pool (the well-behaved way).
    pub blocking_pool: Duration,
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    k: Knobs,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut case = Case::new("live", parts.method.as_str(), parts.uri.path(), Body::Text(String::new()));
    case.body = if bytes.is_empty() { Body::None } else { Body::Hex(hex(&bytes)) };
    if let Some(ct) = parts.headers.get("content-type").and_then(|v| v.to_str().ok()) {
        case.headers.push(("content-type".into(), ct.into()));
    }
    let cpu_mode = parts.uri.path() == "/v1/infer" && bytes.windows(5).any(|w| w == b"\"cpu\"");
    let _held = (parts.uri.path() == "/v1/infer" && k.hold_bytes > 0).then(|| vec![1u8; k.hold_bytes]);
    if cpu_mode && !k.block_worker.is_zero() {
        std::thread::sleep(k.block_worker);
    }
    if cpu_mode && !k.blocking_pool.is_zero() {
        let d = k.blocking_pool;
        tokio::task::spawn_blocking(move || std::thread::sleep(d)).await.unwrap();
    }
    let answer = reference::answer(&case);
    if parts.uri.path() == "/v1/infer"
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && v["mode"] == "io"
    {
        tokio::time::sleep(Duration::from_millis(v["latency_ms"].as_u64().unwrap_or(100))).await;
    }
    drop(_held);
    let mut builder = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        builder = builder.header(k, v);
    }
    // Stream the chunks at the reference's times (SSE), after the extra first-token delay.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let body = Bytes::from(answer.body);
    let chunks = answer.chunks.clone();
    let first = k.first_token_delay;
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + first;
        let mut from = 0;
        for (at, end) in chunks {
            tokio::time::sleep_until(start + at).await;
            if tx.send(Ok(Frame::data(body.slice(from..end)))).await.is_err() {
                return;
            }
            from = end;
        }
    });
    let stream = tokio_stream_from(rx);
    Ok(builder.body(BodyExt::boxed(StreamBody::new(stream))).unwrap())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serves on `listener` forever on a current-thread runtime (one worker: blocking it blocks
/// every request).
pub fn serve(listener: std::net::TcpListener, k: Knobs) {
    listener.set_nonblocking(true).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, k));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
}

/// Starts the server on its own thread (in this process) and returns its base URL.
pub fn start_in_process(k: Knobs) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || serve(listener, k));
    format!("http://{addr}")
}
