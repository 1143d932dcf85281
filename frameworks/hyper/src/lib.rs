//! The contract served by raw hyper 1.x: a `match` for routing, `Limited` for the body
//! limit, and hyper-util's graceful shutdown. It is the floor that axum and poem build on,
//! so the gap between it and them is their routing and extraction cost.
//! `app` takes any request body, so tests and benches can call it on `Full<Bytes>`, and
//! the gateway's state ([`Gateway`]: its client) by reference.

mod error;
mod extract;
pub mod routes;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use fw_common::gateway::{CHAT_PATH, Upstream};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Body;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;

pub use error::AppError;
pub use routes::chat::Gateway;

/// Every response body: a full JSON body or the SSE stream.
pub type ResBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Routes one request. Known paths with the wrong method get 405, others 404.
pub async fn app<B>(gateway: &Gateway, req: Request<B>) -> Result<Response<ResBody>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let result = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => Ok(routes::health::health()),
        (&Method::POST, "/v1/predict") => routes::predict::predict(req).await,
        (&Method::POST, "/v1/generate") => routes::generate::generate(req).await,
        (&Method::POST, "/v1/infer") => routes::infer::infer(req).await,
        (&Method::POST, CHAT_PATH) => routes::chat::chat(gateway, req).await,
        (_, "/health" | "/v1/predict" | "/v1/generate" | "/v1/infer" | CHAT_PATH) => {
            Ok(routes::status_only(StatusCode::METHOD_NOT_ALLOWED))
        }
        _ => Ok(routes::status_only(StatusCode::NOT_FOUND)),
    };
    Ok(result.unwrap_or_else(AppError::into_response))
}

/// Accepts until SIGTERM/SIGINT, then lets open connections finish for up to the grace
/// period; the gateway forwards to `upstream`.
pub async fn serve(listener: tokio::net::TcpListener, upstream: Option<Upstream>) -> std::io::Result<()> {
    let gateway = Arc::new(Gateway::new(upstream)?);
    fw_common::with_grace(|signal| async move {
        let mut http = hyper::server::conn::http1::Builder::new();
        // hyper's header read timeout (default 30 s) only runs with a timer; every target
        // that offers one gets the same value (fw_common::HEADER_READ_TIMEOUT).
        http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(fw_common::HEADER_READ_TIMEOUT);
        let graceful = GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // EMFILE and friends: back off briefly instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    // Every target sets TCP_NODELAY (docs/methodology.md).
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::warn!("set_nodelay failed: {e}");
                    }
                    let gateway = Arc::clone(&gateway);
                    let service = service_fn(move |req| {
                        let gateway = Arc::clone(&gateway);
                        async move { app(&gateway, req).await }
                    });
                    let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!("connection ended with an error: {e}");
                        }
                    });
                }
                _ = &mut signal => break,
            }
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Full;

    /// The handler answers the contract on `Request<Full<Bytes>>` with no socket (the path
    /// the benches take).
    #[tokio::test]
    async fn in_process_answers_match_the_reference() {
        let gateway = super::Gateway::new(None).unwrap();
        for case in fw_common::testing::in_process_cases() {
            let req = fw_common::testing::http_request(&case).map(|b| Full::new(Bytes::from(b)));
            let resp = super::app(&gateway, req).await.unwrap();
            fw_common::testing::judge_http_response(&case, resp).await;
        }
    }
}
