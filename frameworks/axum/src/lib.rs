//! The contract served by axum, written the way an axum user would: a `Router`, an
//! extractor for the body, `IntoResponse` for errors, the gateway's client in the router's
//! state. `app()` is separate from `serve()` so tests and benches can call the router with
//! no socket.

mod error;
mod extract;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use fw_common::gateway::Upstream;

pub use error::AppError;

/// The gateway's client: one pooled reqwest client for the process, in the router's state.
pub type Gateway = fw_common::gateway::reqwest_client::ReqwestGateway;

/// The router: five endpoints and the contract's 1 MiB body limit (axum's default is 2 MB).
pub fn app(gateway: Gateway) -> Router {
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/v1/predict", post(routes::predict::predict))
        .route("/v1/generate", post(routes::generate::generate))
        .route("/v1/infer", post(routes::infer::infer))
        .route(fw_common::gateway::CHAT_PATH, post(routes::chat::chat))
        .layer(DefaultBodyLimit::max(workloads::BODY_LIMIT))
        .with_state(Arc::new(gateway))
}

/// Serves `app()` until SIGTERM/SIGINT, then drains for up to the grace period; the
/// gateway forwards to `upstream`.
pub async fn serve(listener: tokio::net::TcpListener, upstream: Option<Upstream>) -> std::io::Result<()> {
    let app = app(Gateway::new(upstream)?);
    // axum does not set TCP_NODELAY; every target sets it (docs/methodology.md).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("set_nodelay failed: {e}");
        }
    });
    fw_common::with_grace(|signal| async move { axum::serve(listener, app).with_graceful_shutdown(signal).await }).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    /// The router answers the contract with no socket (the path the benches take).
    #[tokio::test]
    async fn in_process_answers_match_the_reference() {
        for case in fw_common::testing::in_process_cases() {
            let req = fw_common::testing::http_request(&case).map(Body::from);
            let resp = super::app(super::Gateway::new(None).unwrap()).oneshot(req).await.unwrap();
            fw_common::testing::judge_http_response(&case, resp).await;
        }
    }
}
