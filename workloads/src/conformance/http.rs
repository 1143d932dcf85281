//! Sends corpus cases over HTTP/1.1 to any base URL, one fresh connection per case, so a
//! server that closes after a 413 cannot spoil the next case.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Case, CorpusReport, Observed, check};

/// How long one case may take, SSE streams and 100,000-pass cpu inference included.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of the pieces of a chunked body.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("base URL {0:?} is not of the form http://host:port")]
    BadUrl(String),
    #[error("case {case}: cannot connect to {authority}: {source}")]
    Connect { case: String, authority: String, source: std::io::Error },
    #[error("case {case}: HTTP exchange with {authority} failed: {source}")]
    Http { case: String, authority: String, source: hyper::Error },
    #[error("case {case}: request could not be built: {source}")]
    Build { case: String, source: hyper::http::Error },
    #[error("case {case}: no complete answer from {authority} within {CASE_TIMEOUT:?}")]
    Timeout { case: String, authority: String },
}

/// Where the cases go: `http://host:port` (a trailing slash is allowed).
#[derive(Debug, Clone)]
pub struct Target {
    authority: String,
}

impl Target {
    pub fn parse(base_url: &str) -> Result<Self, RunError> {
        let rest = base_url.strip_prefix("http://").ok_or_else(|| RunError::BadUrl(base_url.into()))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(RunError::BadUrl(base_url.into()));
        }
        Ok(Self { authority: authority.into() })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }
}

fn request_body(case: &Case) -> BoxBody<Bytes, Infallible> {
    let bytes = Bytes::from(case.body.bytes());
    if case.chunked {
        // A body without a known length goes out as Transfer-Encoding: chunked.
        let pieces: Vec<Result<Frame<Bytes>, Infallible>> = (0..bytes.len())
            .step_by(CHUNK)
            .map(|i| Ok(Frame::data(bytes.slice(i..(i + CHUNK).min(bytes.len())))))
            .collect();
        StreamBody::new(futures_util::stream::iter(pieces)).boxed()
    } else {
        Full::new(bytes).boxed()
    }
}

fn build_request(target: &Target, case: &Case) -> Result<hyper::Request<BoxBody<Bytes, Infallible>>, RunError> {
    let mut builder = hyper::Request::builder().method(case.method.as_str()).uri(case.path.as_str());
    builder = builder.header("host", target.authority.as_str());
    for (k, v) in &case.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder.body(request_body(case)).map_err(|source| RunError::Build { case: case.name.clone(), source })
}

/// One keep-alive HTTP/1.1 connection that sends cases back to back, for load-style checks
/// (many requests, statuses only). A server may close the connection after an error
/// answer; the next `send` then reconnects.
#[derive(Debug)]
pub struct KeepAlive {
    target: Target,
    sender: Option<hyper::client::conn::http1::SendRequest<BoxBody<Bytes, Infallible>>>,
    /// How many connections were opened, the first included.
    pub connects: usize,
}

impl KeepAlive {
    pub fn new(target: Target) -> Self {
        Self { target, sender: None, connects: 0 }
    }

    /// Sends `case` and returns the status and the whole body.
    pub async fn send(&mut self, case: &Case) -> Result<(u16, Bytes), RunError> {
        let err = |source| RunError::Http { case: case.name.clone(), authority: self.target.authority.clone(), source };
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.target.authority).await.map_err(|source| RunError::Connect {
                case: case.name.clone(),
                authority: self.target.authority.clone(),
                source,
            })?;
            stream.set_nodelay(true).ok();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(err)?;
            tokio::spawn(conn);
            self.sender = Some(sender);
            self.connects += 1;
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await.map_err(err)?;
        let resp = sender.send_request(build_request(&self.target, case)?).await.map_err(err)?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(err)?.to_bytes();
        Ok((status, body))
    }
}

/// Sends one case and records the answer, with the arrival time of every body chunk.
pub async fn send(target: &Target, case: &Case) -> Result<Observed, RunError> {
    let body_len = case.body.bytes().len();
    if body_len > crate::contract::BODY_LIMIT {
        return send_oversized(target, case).await;
    }
    let exchange = async {
        let err = |source| RunError::Http { case: case.name.clone(), authority: target.authority.clone(), source };
        let stream = TcpStream::connect(&target.authority).await.map_err(|source| RunError::Connect {
            case: case.name.clone(),
            authority: target.authority.clone(),
            source,
        })?;
        stream.set_nodelay(true).ok();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(err)?;
        // The connection task may end in an error when a server answers early and closes
        // (413 while the body is still being sent); the answer is what we judge.
        let driver = tokio::spawn(conn);
        let req = build_request(target, case)?;
        let sent = Instant::now();
        let resp = sender.send_request(req).await.map_err(err)?;
        let mut got = Observed {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            ..Observed::default()
        };
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(err)?.into_data() {
                got.body.extend_from_slice(&data);
                got.chunks.push((sent.elapsed(), got.body.len()));
            }
        }
        driver.abort();
        Ok(got)
    };
    tokio::time::timeout(CASE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(RunError::Timeout { case: case.name.clone(), authority: target.authority.clone() }))
}

/// Bodies over the limit go out on a raw socket that keeps reading while it writes, and
/// keeps its sending side open until the answer has come, as curl does. A server may answer 413 and close before the body is sent; hyper's client then
/// reports the failed write and drops the answer that is already in the socket buffer.
async fn send_oversized(target: &Target, case: &Case) -> Result<Observed, RunError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io_err = |source| RunError::Connect { case: case.name.clone(), authority: target.authority.clone(), source };
    let exchange = async {
        let stream = TcpStream::connect(&target.authority).await.map_err(io_err)?;
        let (mut rd, mut wr) = stream.into_split();
        let body = case.body.bytes();
        let mut head = format!("{} {} HTTP/1.1\r\nhost: {}\r\n", case.method, case.path, target.authority);
        for (k, v) in &case.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&if case.chunked {
            "transfer-encoding: chunked\r\n\r\n".to_owned()
        } else {
            format!("content-length: {}\r\n\r\n", body.len())
        });
        let chunked = case.chunked;
        // Write errors are expected (the server may close early) and ignored: the answer is
        // what we judge.
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            if chunked {
                for piece in body.chunks(CHUNK) {
                    wr.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
                    wr.write_all(piece).await?;
                    wr.write_all(b"\r\n").await?;
                }
                wr.write_all(b"0\r\n\r\n").await?;
            } else {
                wr.write_all(&body).await?;
            }
            // Hold the write half open until the answer is read, as curl does: dropping it
            // half-closes the connection (FIN), which a server that reads the whole body
            // before answering (Ray Serve's proxy) takes for the client going away. The
            // `abort` below drops it once the answer is in.
            std::future::pending::<()>().await;
            std::io::Result::Ok(())
        });
        let mut buf = Vec::new();
        let mut piece = [0u8; 16 * 1024];
        let status = loop {
            match rd.read(&mut piece).await {
                Ok(0) | Err(_) => break None,
                Ok(n) => buf.extend_from_slice(&piece[..n]),
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = resp.parse(&buf) {
                let hs = resp
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                break Some((resp.code.unwrap_or(0), hs, len));
            }
        };
        writer.abort();
        let Some((status, headers, head_len)) = status else {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response head arrived",
            )));
        };
        // Only the status and headers of an over-limit answer are judged; keep what body came.
        Ok(Observed { status, headers, body: buf[head_len..].to_vec(), chunks: Vec::new() })
    };
    tokio::time::timeout(CASE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(RunError::Timeout { case: case.name.clone(), authority: target.authority.clone() }))
}

/// Runs every case against `base_url` and judges each answer. Transport failures count
/// as failed cases (with the reason), so one crash does not hide the rest of the report.
pub async fn run_corpus(base_url: &str, cases: &[Case]) -> Result<CorpusReport, RunError> {
    let target = Target::parse(base_url)?;
    let mut report = CorpusReport::default();
    for case in cases {
        let result = match send(&target, case).await {
            Ok(got) => check(case, &got),
            Err(e) => Err(vec![e.to_string()]),
        };
        report.record(case, result);
    }
    Ok(report)
}
