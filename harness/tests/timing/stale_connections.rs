//! A server that closes keep-alive connections idle for 200 ms (as hyper's and actix-web's
//! header read timeouts do): the driver resends on a fresh connection instead of counting a
//! request it never sent as an error, in the open loop (whose pool keeps connections idle)
//! and in the closed loop.

use crate::common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use harness::driver::{self, Arrival, LoadSpec, Mode, PayloadSet, Stop};
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::{TokioIo, TokioTimer};

fn start_closing_idle_server(idle: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        let mut r = Response::new(Full::new(Bytes::from_static(br#"{"status":"ok"}"#)));
                        r.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(idle)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    format!("http://{}", rx.recv_timeout(Duration::from_secs(5)).unwrap())
}

#[test]
fn connections_closed_while_idle_are_replaced_not_counted_as_errors() {
    let _exclusive = common::exclusive();
    let url = start_closing_idle_server(Duration::from_millis(200));
    let rt = common::client_runtime();
    // Open loop at a constant 4/s: 250 ms between requests, so the pooled connection has
    // always been closed by the server (after 200 ms idle) when the next request takes it.
    let open = LoadSpec {
        mode: Mode::Open { rate_rps: 4.0, arrival: Arrival::Constant, max_connections: 8 },
        warmup: Duration::from_millis(300),
        stop: Stop::Duration(Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
    };
    let r = rt.block_on(driver::run(&url, PayloadSet::health(), open)).unwrap();
    assert_eq!(r.recorded.errors.total(), 0, "{:?}", r.recorded.errors);
    assert!(r.recorded.responses() >= 7, "{} responses", r.recorded.responses());
    assert!(
        r.connections_opened >= 7,
        "the server's closes must have forced new connections: {}",
        r.connections_opened
    );
    // Closed loop with pauses longer than the idle limit cannot happen (it sends at once),
    // but its connections are closed by the same timer between warm-up and window edges:
    // whatever happens, no request is lost as an error.
    let closed = LoadSpec {
        mode: Mode::Closed { connections: 4 },
        warmup: Duration::from_millis(100),
        stop: Stop::Duration(Duration::from_millis(800)),
        request_timeout: Duration::from_secs(5),
    };
    let r = rt.block_on(driver::run(&url, PayloadSet::health(), closed)).unwrap();
    assert_eq!(r.recorded.errors.total(), 0, "{:?}", r.recorded.errors);
}
