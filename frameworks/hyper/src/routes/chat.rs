//! `POST /v1/chat/completions`: the LLM gateway (docs/contract.md). Decode and validate as
//! every endpoint does, forward the checked fields with hyper's own client (hyper-util's
//! legacy `Client`), then re-stream the upstream's SSE under our own id
//! ([`fw_common::gateway`]) or pass its JSON on.

use std::str::FromStr;

use bytes::Bytes;
use futures_util::TryStreamExt;
use fw_common::gateway::{self, Upstream};
use http_body_util::{BodyDataStream, BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::extract::json_body;
use crate::{AppError, ResBody};

/// The gateway's state: one pooled client for the process, built at start-up with
/// hyper-util's defaults (HTTP/1, no pool cap, idle connections expire after 90 s, checked
/// when one is taken since no pool timer is set; no timeouts; `HttpConnector` leaves
/// TCP_NODELAY off), and the upstream's URL.
#[derive(Debug)]
pub struct Gateway {
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Option<(Upstream, Uri)>,
}

impl Gateway {
    /// Without `upstream`, the endpoint answers 502.
    pub fn new(upstream: Option<Upstream>) -> std::io::Result<Self> {
        let upstream = upstream
            .map(|u| match Uri::from_str(u.chat_url()) {
                Ok(uri) => Ok((u, uri)),
                Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--upstream {u}: {e}"))),
            })
            .transpose()?;
        Ok(Gateway { client: Client::builder(TokioExecutor::new()).build_http(), upstream })
    }
}

pub async fn chat<B>(gw: &Gateway, req: Request<B>) -> Result<Response<ResBody>, AppError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let body = json_body(req).await?;
    let req = workloads::decode_chat(&body)?;
    let (upstream, uri) = gw.upstream.as_ref().ok_or_else(gateway::no_upstream)?;
    let forward = Request::post(uri.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(req.upstream_body())))
        .expect("a request to a parsed URI is valid");
    // The upstream's status and headers arrive before we answer: its failures are 502s.
    let answer = gw.client.request(forward).await.map_err(|e| gateway::unreachable(upstream, &e))?;
    let status = answer.status().as_u16();
    if req.stream {
        let content_type = answer.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
        gateway::check_stream_head(upstream, status, content_type)?;
        // Dropping the body (the caller went away) drops the upstream's, which closes its
        // connection.
        let frames = gateway::relabelled(BodyDataStream::new(answer.into_body())).map_ok(Frame::data);
        let mut resp = Response::new(StreamBody::new(frames).boxed_unsync());
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, "text/event-stream".parse().expect("static header"));
        h.insert(CACHE_CONTROL, "no-cache".parse().expect("static header"));
        Ok(resp)
    } else {
        gateway::check_status(upstream, status)?;
        let body = answer.into_body().collect().await.map_err(|e| gateway::body_failed(upstream, &e))?.to_bytes();
        gateway::check_completion(upstream, &body)?;
        Ok(super::json(body))
    }
}
