//! The gateway's forwarding with reqwest, the client of the tokio ecosystem, shared by the
//! two targets that use it (axum and poem) so that their only difference is how each
//! framework builds its response.

use std::io;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::CONTENT_TYPE;
use workloads::ApiError;
use workloads::contract::ChatRequest;

use super::{Upstream, check_completion, check_status, check_stream_head, no_upstream, relabelled};

/// One pooled `reqwest::Client` for the process, built at start-up with reqwest's defaults
/// (a hyper-util pool with no cap, idle connections kept 90 s, no request or connect
/// timeout), and the upstream's URL.
#[derive(Debug)]
pub struct ReqwestGateway {
    client: reqwest::Client,
    upstream: Option<(Upstream, reqwest::Url)>,
}

/// The upstream's answer, checked: the re-labelled event stream, or the JSON body as it came.
pub enum Answer<S> {
    Stream(S),
    Json(Bytes),
}

impl<S> std::fmt::Debug for Answer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Stream(_) => f.write_str("Answer::Stream(..)"),
            Answer::Json(body) => write!(f, "Answer::Json({} bytes)", body.len()),
        }
    }
}

impl ReqwestGateway {
    /// Without `upstream`, every request is a 502.
    pub fn new(upstream: Option<Upstream>) -> io::Result<Self> {
        let upstream = upstream
            .map(|u| match reqwest::Url::parse(u.chat_url()) {
                Ok(url) => Ok((u, url)),
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("--upstream {u}: {e}"))),
            })
            .transpose()?;
        Ok(ReqwestGateway { client: reqwest::Client::new(), upstream })
    }

    /// Posts `req` upstream and awaits the answer's status and headers, so that every
    /// failure before the first byte of ours is a 502. A stream's upstream response lives
    /// in the returned stream: dropping it closes that upstream connection.
    pub async fn forward(
        &self,
        req: &ChatRequest,
    ) -> Result<Answer<impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static>, ApiError> {
        let (upstream, url) = self.upstream.as_ref().ok_or_else(no_upstream)?;
        let answer = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(req.upstream_body())
            .send()
            .await
            .map_err(|e| super::unreachable(upstream, &e))?;
        let status = answer.status().as_u16();
        if req.stream {
            check_stream_head(upstream, status, answer.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()))?;
            Ok(Answer::Stream(relabelled(answer.bytes_stream())))
        } else {
            check_status(upstream, status)?;
            let body = answer.bytes().await.map_err(|e| super::body_failed(upstream, &e))?;
            check_completion(upstream, &body)?;
            Ok(Answer::Json(body))
        }
    }
}
