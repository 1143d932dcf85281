//! The contract served by actix-web, written the way an actix-web user would: resources in
//! a `ServiceConfig`, a `FromRequest` extractor for the body, `ResponseError` for errors.
//! `configure` is separate from `serve` so tests and benches can build the `App` in-process;
//! the gateway's client ([`Gateway`]) is app data that each worker's `App` factory builds.

mod error;
mod extract;
pub mod routes;

use actix_web::{App, HttpServer, web};

pub use error::AppError;
pub use routes::chat::Gateway;

/// The five endpoints and the contract's 1 MiB body limit (actix's default PayloadConfig is
/// 256 KiB). Wrong methods on a known resource get actix's default 405. The gateway needs a
/// [`Gateway`] in the app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(workloads::BODY_LIMIT))
        .service(web::resource("/health").route(web::get().to(routes::health::health)))
        .service(web::resource("/v1/predict").route(web::post().to(routes::predict::predict)))
        .service(web::resource("/v1/generate").route(web::post().to(routes::generate::generate)))
        .service(web::resource("/v1/infer").route(web::post().to(routes::infer::infer)))
        .service(web::resource(fw_common::gateway::CHAT_PATH).route(web::post().to(routes::chat::chat)));
}

/// Serves until SIGTERM/SIGINT, then drains for up to the grace period; the gateway
/// forwards to `upstream`.
pub async fn serve(
    listener: std::net::TcpListener,
    workers: u16,
    upstream: Option<fw_common::gateway::Upstream>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let target = routes::chat::target(upstream)?;
    // Each worker builds its own App, and with it its own gateway client.
    let app = move || App::new().app_data(web::Data::new(Gateway::new(target.clone()))).configure(configure);
    let server = HttpServer::new(app)
        .workers(usize::from(workers))
        .tcp_nodelay(true)
        // Its default, stated: the header read timeout every target gets where it can.
        .client_request_timeout(fw_common::HEADER_READ_TIMEOUT)
        // actix's own handler treats SIGINT as a *forced* stop; the contract wants both
        // signals graceful, so we disable it and stop gracefully on either ourselves.
        .disable_signals()
        .shutdown_timeout(fw_common::GRACE_PERIOD.as_secs())
        .listen(listener)?
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        fw_common::shutdown_signal().await;
        handle.stop(true).await;
    });
    fw_common::announce(addr);
    server.await
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test, web};

    /// The app answers the contract with no socket (the path the benches take).
    #[actix_web::test]
    async fn in_process_answers_match_the_reference() {
        let gateway = web::Data::new(super::Gateway::new(None));
        let app = test::init_service(App::new().app_data(gateway).configure(super::configure)).await;
        for case in fw_common::testing::in_process_cases() {
            let method = actix_web::http::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut req = test::TestRequest::default().method(method).uri(&case.path);
            for (k, v) in &case.headers {
                req = req.insert_header((k.as_str(), v.as_str()));
            }
            let body = case.body.bytes();
            let req = req.insert_header(("content-length", body.len())).set_payload(body).to_request();
            let resp = test::call_service(&app, req).await;
            let status = resp.status().as_u16();
            let headers = resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned())).collect();
            let body = test::read_body(resp).await.to_vec();
            fw_common::testing::judge_in_process(&case, status, headers, body);
        }
    }
}
