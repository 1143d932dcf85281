//! One keep-alive HTTP/1.1 client connection of the driver, and how an exchange ends.

use std::pin::Pin;

use futures_util::future::Either;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use workloads::conformance::Observed;
use workloads::conformance::http::Target;

use super::payloads::Prepared;

/// Whether and how a response's body was checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    NotChecked,
    Passed,
    WrongStatus,
    WrongBody(String),
}

/// How one exchange ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response {
        status: u16,
        bytes: u64,
        mismatch: Check,
    },
    Connect,
    Timeout,
    /// The connection failed mid-exchange (closed, reset, malformed answer).
    Reset,
}

#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    pub async fn open(target: &Target) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(target.authority()).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            // One write per request (headers and body copied together) instead of writev:
            // measurably cheaper for the small requests of this suite.
            .writev(false)
            // Answers here are small; a fixed buffer skips the adaptive sizing on every read.
            .read_buf_exact_size(Some(16 * 1024))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let host = HeaderValue::from_str(target.authority()).map_err(std::io::Error::other)?;
        Ok(Conn { sender, host })
    }

    /// Sends `req`, reads the whole answer, checks its status (always) and body (when
    /// `check_body`). Returns the connection if it can be reused. The exchange fails as a
    /// `timeout` when `deadline` fires first; callers reuse one timer across requests,
    /// because arming a fresh timer per request costs more than the rest of the client's
    /// work on a cheap endpoint.
    pub async fn send(
        mut self,
        req: &Prepared,
        check_body: bool,
        deadline: Pin<&mut tokio::time::Sleep>,
    ) -> (Outcome, Option<Conn>) {
        let exchange = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(build_request(req, &self.host)).await?;
            let status = resp.status().as_u16();
            let headers = if check_body { Some(resp.headers().clone()) } else { None };
            // Count body bytes frame by frame; keep them only for a checked response.
            let mut body = resp.into_body();
            let mut bytes = 0u64;
            let mut kept = Vec::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    bytes += data.len() as u64;
                    if check_body {
                        kept.extend_from_slice(&data);
                    }
                }
            }
            Ok::<_, hyper::Error>((status, headers, bytes, kept))
        };
        let finished = match futures_util::future::select(std::pin::pin!(exchange), deadline).await {
            Either::Left((answer, _)) => Some(answer),
            Either::Right(_) => None,
        };
        match finished {
            None => (Outcome::Timeout, None),
            Some(Err(_)) => (Outcome::Reset, None),
            Some(Ok((status, headers, bytes, kept))) => {
                let mismatch = if status != req.case.expect.status {
                    Check::WrongStatus
                } else if let Some(headers) = headers {
                    check(req, status, &headers, kept)
                } else {
                    Check::NotChecked
                };
                let outcome = Outcome::Response { status, bytes, mismatch };
                let reusable = !self.sender.is_closed();
                (outcome, reusable.then_some(self))
            }
        }
    }
}

/// The request the driver sends for `req` (benched as the driver's request preparation).
pub fn build_request(req: &Prepared, host: &HeaderValue) -> hyper::Request<Full<Bytes>> {
    let mut r = hyper::Request::new(Full::new(req.body.clone()));
    *r.method_mut() = req.method.clone();
    *r.uri_mut() = req.path.clone();
    r.headers_mut().insert(HOST, host.clone());
    if let Some(ct) = &req.content_type {
        r.headers_mut().insert(CONTENT_TYPE, ct.clone());
    }
    r
}

fn check(req: &Prepared, status: u16, headers: &hyper::HeaderMap, body: Vec<u8>) -> Check {
    let observed = Observed {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        chunks: Vec::new(),
    };
    match workloads::conformance::check(&req.case, &observed) {
        Ok(()) => Check::Passed,
        Err(why) => Check::WrongBody(format!("{}: {}", req.case.name, why.join("; "))),
    }
}
