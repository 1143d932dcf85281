//! The contract served by poem with poem-openapi: routing and the OpenAPI document come
//! from `#[OpenApi]`, as a poem-openapi user would write them.
//!
//! Validation does *not* use poem-openapi's `Object` validators: they stop at the first
//! error, report no field path, accept numbers sent as strings, and the `pattern` validator
//! compiles its regex on every call. The contract cannot be met with them, so request
//! bodies arrive through a custom payload type ([`extract::JsonBody`]) that enforces the
//! 1 MiB limit (poem has none by default) and decodes through the shared `workloads` rules,
//! like every other target. See docs/contract.md, "poem".

mod error;
mod extract;
pub mod routes;

use fw_common::gateway::Upstream;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{Endpoint, EndpointExt, Route, Server};
use poem_openapi::OpenApiService;

pub use error::AppError;

/// The gateway's client: one pooled reqwest client for the process, held by the `Api`.
pub type Gateway = fw_common::gateway::reqwest_client::ReqwestGateway;

/// The endpoints plus `GET /openapi.json`.
pub fn app(gateway: Gateway) -> impl Endpoint + 'static {
    let api = OpenApiService::new(routes::Api::new(gateway), "mlapi-bench (poem)", env!("CARGO_PKG_VERSION"));
    let spec = api.spec_endpoint();
    Route::new().at("/openapi.json", spec).nest("/", api).map_to_response()
}

/// Serves `app()` until SIGTERM/SIGINT, then drains for up to the grace period (poem's own
/// graceful-shutdown timeout); the gateway forwards to `upstream`.
pub async fn serve(listener: tokio::net::TcpListener, upstream: Option<Upstream>) -> std::io::Result<()> {
    let app = app(Gateway::new(upstream)?);
    let acceptor = NodelayAcceptor(TcpAcceptor::from_tokio(listener)?);
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, fw_common::shutdown_signal(), Some(fw_common::GRACE_PERIOD))
        .await
}

/// poem's `TcpAcceptor` does not set TCP_NODELAY; every target sets it
/// (docs/methodology.md), so this wrapper does.
struct NodelayAcceptor(TcpAcceptor);

impl Acceptor for NodelayAcceptor {
    type Io = <TcpAcceptor as Acceptor>::Io;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(Self::Io, poem::web::LocalAddr, poem::web::RemoteAddr, poem::http::uri::Scheme)> {
        let accepted = self.0.accept().await?;
        if let Err(e) = accepted.0.set_nodelay(true) {
            tracing::warn!("set_nodelay failed: {e}");
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use poem::{Endpoint, Request};

    /// The endpoint answers the contract with no socket (the path the benches take).
    #[tokio::test]
    async fn in_process_answers_match_the_reference() {
        let app = super::app(super::Gateway::new(None).unwrap());
        for case in fw_common::testing::in_process_cases() {
            let method = poem::http::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut req = Request::builder().method(method).uri(case.path.parse().unwrap());
            for (k, v) in &case.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let body = case.body.bytes();
            let req = req.header("content-length", body.len().to_string()).body(body);
            let resp = app.get_response(req).await;
            let status = resp.status().as_u16();
            let headers = resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned())).collect();
            let body = resp.into_body().into_vec().await.unwrap();
            fw_common::testing::judge_in_process(&case, status, headers, body);
        }
    }

    #[tokio::test]
    async fn serves_an_openapi_document_listing_the_operations() {
        let app = super::app(super::Gateway::new(None).unwrap());
        let resp = app.get_response(Request::builder().uri("/openapi.json".parse().unwrap()).finish()).await;
        assert_eq!(resp.status().as_u16(), 200);
        let doc: serde_json::Value = serde_json::from_slice(&resp.into_body().into_vec().await.unwrap()).unwrap();
        for path in ["/health", "/v1/predict", "/v1/generate", "/v1/infer", "/v1/chat/completions"] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
        }
    }
}
