//! One keep-alive HTTP/1.1 client connection of the driver, and how an exchange ends.

use std::time::Duration;

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
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let host = HeaderValue::from_str(target.authority()).map_err(std::io::Error::other)?;
        Ok(Conn { sender, host })
    }

    /// Sends `req`, reads the whole answer, checks its status (always) and body (when
    /// `check_body`). Returns the connection if it can be reused.
    pub async fn send(mut self, req: &Prepared, check_body: bool, timeout: Duration) -> (Outcome, Option<Conn>) {
        let exchange = async {
            self.sender.ready().await?;
            let mut r = hyper::Request::new(Full::new(req.body.clone()));
            *r.method_mut() = req.method.clone();
            *r.uri_mut() = req.path.clone();
            r.headers_mut().insert(HOST, self.host.clone());
            if let Some(ct) = &req.content_type {
                r.headers_mut().insert(CONTENT_TYPE, ct.clone());
            }
            let resp = self.sender.send_request(r).await?;
            let status = resp.status().as_u16();
            let headers = if check_body { Some(resp.headers().clone()) } else { None };
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, headers, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => (Outcome::Timeout, None),
            Ok(Err(_)) => (Outcome::Reset, None),
            Ok(Ok((status, headers, body))) => {
                let mismatch = if status != req.case.expect.status {
                    Check::WrongStatus
                } else if let Some(headers) = headers {
                    check(req, status, &headers, &body)
                } else {
                    Check::NotChecked
                };
                let outcome = Outcome::Response { status, bytes: body.len() as u64, mismatch };
                let reusable = !self.sender.is_closed();
                (outcome, reusable.then_some(self))
            }
        }
    }
}

fn check(req: &Prepared, status: u16, headers: &hyper::HeaderMap, body: &Bytes) -> Check {
    let observed = Observed {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
        chunks: Vec::new(),
    };
    match workloads::conformance::check(&req.case, &observed) {
        Ok(()) => Check::Passed,
        Err(why) => Check::WrongBody(format!("{}: {}", req.case.name, why.join("; "))),
    }
}
