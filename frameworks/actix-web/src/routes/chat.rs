//! `POST /v1/chat/completions`: the LLM gateway (docs/contract.md). Decode and validate as
//! every endpoint does, forward the checked fields with awc, actix's own client, then
//! re-stream the upstream's SSE under our own id or pass its JSON on ([`fw_common::gateway`]).

use std::str::FromStr;

use actix_web::http::header::{self, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use awc::http::Uri;
use fw_common::gateway::{
    Upstream, body_failed, check_completion, check_status, check_stream_head, no_upstream, relabelled, unreachable,
};

use crate::AppError;
use crate::extract::JsonBody;

/// The upstream's chat URL, parsed once at start-up and handed to every worker.
pub type Target = Option<(Upstream, Uri)>;

/// Parses `--upstream` for awc; an unparsable one stops the server before it starts.
pub fn target(upstream: Option<Upstream>) -> std::io::Result<Target> {
    upstream
        .map(|u| match Uri::from_str(u.chat_url()) {
            Ok(uri) => Ok((u, uri)),
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--upstream {u}: {e}"))),
        })
        .transpose()
}

/// The gateway's state, one per worker (actix's pattern: `awc::Client` is `!Send`, so each
/// worker's `App` factory builds its own), in the app data. awc's defaults, except the
/// connector's pool: 100 connections by default, raised to 256 as the contract says of any
/// pool capping concurrency below that. Its 5 s request timeout runs until the response
/// head only (awc's body timeout is off by default), so long streams are not cut.
pub struct Gateway {
    client: awc::Client,
    target: Target,
}

impl std::fmt::Debug for Gateway {
    // awc::Client has no Debug of its own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("target", &self.target).finish_non_exhaustive()
    }
}

/// Connections awc's pool may hold per worker (its default is 100).
pub const POOL_LIMIT: usize = 256;

impl Gateway {
    /// Without an upstream, the endpoint answers 502.
    pub fn new(target: Target) -> Self {
        let client = awc::Client::builder().connector(awc::Connector::new().limit(POOL_LIMIT)).finish();
        Gateway { client, target }
    }
}

pub async fn chat(gateway: web::Data<Gateway>, JsonBody(body): JsonBody) -> Result<HttpResponse, AppError> {
    let req = workloads::decode_chat(&body)?;
    let (upstream, uri) = gateway.target.as_ref().ok_or_else(no_upstream)?;
    // The upstream's status and headers arrive before we answer: its failures are 502s.
    let mut answer = gateway
        .client
        .post(uri.clone())
        .content_type("application/json")
        .send_body(req.upstream_body())
        .await
        .map_err(|e| unreachable(upstream, &e))?;
    let status = answer.status().as_u16();
    if req.stream {
        check_stream_head(upstream, status, answer.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()))?;
        // Dropping the body (the caller went away) drops the upstream response, which
        // closes its connection.
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .streaming(relabelled(answer)))
    } else {
        check_status(upstream, status)?;
        let body = answer.body().await.map_err(|e| body_failed(upstream, &e))?;
        check_completion(upstream, &body)?;
        Ok(super::json(body))
    }
}
