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

/// When the token events of an SSE answer arrived, and whether the stream was complete.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTiming {
    pub token_events_at: Vec<std::time::Instant>,
    /// Every expected token event arrived, then `[DONE]`, then the end of the body.
    pub complete: bool,
}

/// An OpenAI chat stream as it arrived, and when its request was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTiming {
    pub sent: std::time::Instant,
    pub stream: crate::openai::ChatStream,
}

/// How one exchange ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response {
        status: u16,
        bytes: u64,
        mismatch: Check,
        stream: Option<StreamTiming>,
        chat: Option<ChatTiming>,
    },
    /// A chat answer with status 200 that is not a complete stream (cut before `[DONE]`, an
    /// error event, not `text/event-stream`): the request failed, for the reason given.
    Broken(String),
    Connect,
    Timeout,
    /// The connection failed mid-exchange (closed, reset, malformed answer).
    Reset,
    /// A reused connection turned out closed before the request left: the server ended it
    /// while it sat idle in the pool (an idle or header-read timeout). Nothing was sent;
    /// the caller sends the request again on a fresh connection. Never recorded as such.
    Stale,
}

#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    /// At least one exchange completed on it: only such a connection can be stale (a fresh
    /// connection that the server closes at once is a `reset`, so a server that closes every
    /// connection is not retried forever).
    used: bool,
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
        Ok(Conn { sender, host, used: false })
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
        let used = self.used;
        // A chat stream's figures are offsets from its send; no other request needs the clock here.
        let sent = req.openai.then(std::time::Instant::now);
        let exchange = async {
            let stale = |e| if used { Failure::Stale } else { Failure::Http(e) };
            self.sender.ready().await.map_err(stale)?;
            // `try_send_request` hands the request back when the connection closed before it
            // was written, which tells a stale connection from a failure mid-exchange.
            let resp = match self.sender.try_send_request(build_request(req, &self.host)).await {
                Ok(r) => r,
                Err(mut e) => {
                    let unsent = e.take_message().is_some();
                    return Err(if unsent { stale(e.into_error()) } else { Failure::Http(e.into_error()) });
                }
            };
            let status = resp.status().as_u16();
            let headers = if check_body { Some(resp.headers().clone()) } else { None };
            // Only a chat answer is read as OpenAI's chunks (nothing more per request for the rest).
            let mut chat = sent.filter(|_| status == 200).map(|sent| {
                let event_stream = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                    v.trim_start().get(..17).is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream"))
                });
                ChatState::new(sent, event_stream)
            });
            // Count body bytes frame by frame; keep them only for a checked response.
            let mut body = resp.into_body();
            let mut bytes = 0u64;
            let mut kept = Vec::new();
            // SSE answers are parsed as they arrive (a chunk is not an event), so every
            // token event gets its own arrival time.
            let mut sse = req.stream.as_ref().filter(|_| status == 200).map(|_| SseState::default());
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(Failure::Http)?.into_data() {
                    bytes += data.len() as u64;
                    if let Some(chat) = chat.as_mut() {
                        chat.feed(&data);
                    } else if let Some(sse) = sse.as_mut() {
                        sse.feed(&data, req, check_body);
                    } else if check_body {
                        kept.extend_from_slice(&data);
                    }
                }
            }
            Ok::<_, Failure>((status, headers, bytes, kept, sse, chat))
        };
        let finished = match futures_util::future::select(std::pin::pin!(exchange), deadline).await {
            Either::Left((answer, _)) => Some(answer),
            Either::Right(_) => None,
        };
        match finished {
            None => (Outcome::Timeout, None),
            Some(Err(Failure::Stale)) => (Outcome::Stale, None),
            Some(Err(Failure::Http(_))) => (Outcome::Reset, None),
            Some(Ok((_, _, _, _, _, Some(chat)))) if chat.broken().is_some() => {
                let why = chat.broken().unwrap_or_default();
                let reusable = !self.sender.is_closed();
                self.used = true;
                (Outcome::Broken(format!("{}: {why}", req.case.name)), reusable.then_some(self))
            }
            Some(Ok((status, headers, bytes, kept, sse, chat))) => {
                let stream = sse.map(|s| s.finish(req));
                let mismatch = if status != req.case.expect.status {
                    Check::WrongStatus
                } else if chat.is_some() {
                    // A complete chat stream is its check (`ChatState::broken` above).
                    if check_body { Check::Passed } else { Check::NotChecked }
                } else if let Some(s) = &stream {
                    match (&s.1, s.0.complete) {
                        (Some(why), _) => Check::WrongBody(format!("{}: {why}", req.case.name)),
                        (None, false) => Check::WrongBody(format!("{}: incomplete stream", req.case.name)),
                        (None, true) if check_body => Check::Passed,
                        (None, true) => Check::NotChecked,
                    }
                } else if let Some(headers) = headers {
                    check(req, status, &headers, kept)
                } else {
                    Check::NotChecked
                };
                let chat = chat.map(|c| ChatTiming { sent: c.sent, stream: c.stream });
                let outcome = Outcome::Response { status, bytes, mismatch, stream: stream.map(|s| s.0), chat };
                let reusable = !self.sender.is_closed();
                self.used = true;
                (outcome, reusable.then_some(self))
            }
        }
    }
}

/// Why an exchange produced no answer.
enum Failure {
    Stale,
    Http(#[allow(dead_code)] hyper::Error),
}

/// Incremental state of one OpenAI chat stream: SSE events become chunks as they arrive.
#[derive(Debug)]
struct ChatState {
    sent: std::time::Instant,
    event_stream: bool,
    parser: workloads::sse::SseParser,
    events: Vec<workloads::sse::SseEvent>,
    stream: crate::openai::ChatStream,
}

impl ChatState {
    fn new(sent: std::time::Instant, event_stream: bool) -> Self {
        ChatState {
            sent,
            event_stream,
            parser: workloads::sse::SseParser::new(),
            events: Vec::new(),
            stream: Default::default(),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.parser.feed(data, &mut self.events);
        let at = self.sent.elapsed();
        for ev in self.events.drain(..) {
            self.stream.event(at, &ev.data);
        }
    }

    /// Why the answer is not a complete chat stream, if it is not.
    fn broken(&self) -> Option<String> {
        if !self.event_stream {
            return Some("a 200 answer that is not text/event-stream".into());
        }
        self.stream.broken()
    }
}

/// Incremental SSE state of one answer.
#[derive(Debug, Default)]
struct SseState {
    parser: workloads::sse::SseParser,
    events: Vec<workloads::sse::SseEvent>,
    seen: usize,
    token_events_at: Vec<std::time::Instant>,
    done: bool,
    after_done: bool,
    wrong: Option<String>,
}

impl SseState {
    fn feed(&mut self, data: &[u8], req: &Prepared, check: bool) {
        self.parser.feed(data, &mut self.events);
        let now = std::time::Instant::now();
        for ev in &self.events[self.seen..] {
            if self.done {
                self.after_done = true;
            } else if ev.data == "[DONE]" {
                self.done = true;
            } else {
                let i = self.token_events_at.len();
                self.token_events_at.push(now);
                // The token sequence is checked on sampled streams only; the count on all.
                if check && self.wrong.is_none() {
                    let want = req.stream.as_ref().and_then(|s| s.words.get(i));
                    let ok = serde_json::from_str::<serde_json::Value>(&ev.data)
                        .is_ok_and(|v| v["index"].as_u64() == Some(i as u64) && want.is_some_and(|w| v["token"] == *w));
                    if !ok {
                        self.wrong = Some(format!("event {i} is {:?}, expected token {want:?}", ev.data));
                    }
                }
            }
        }
        // Keep memory flat on long streams: parsed events are no longer needed.
        self.events.clear();
        self.seen = 0;
    }

    fn finish(self, req: &Prepared) -> (StreamTiming, Option<String>) {
        let expected = req.stream.as_ref().map_or(0, |s| s.words.len());
        let complete = self.done && !self.after_done && self.token_events_at.len() == expected;
        (StreamTiming { token_events_at: self.token_events_at, complete }, self.wrong)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize, word: &str) -> String {
        format!("data: {{\"index\":{i},\"token\":\"{word}\"}}\r\n\r\n")
    }

    #[test]
    fn sse_state_counts_checks_and_spots_wrong_tokens() {
        let set = crate::driver::PayloadSet::generate(2, 0);
        let req = set.get(0);
        let words = &req.stream.as_ref().unwrap().words;
        // Correct stream, split mid-event and with CRLF line ends.
        let body = format!("{}{}data: [DONE]\n\n", event(0, words[0]), event(1, words[1]));
        let mut st = SseState::default();
        st.feed(&body.as_bytes()[..7], req, true);
        st.feed(&body.as_bytes()[7..], req, true);
        let (t, wrong) = st.finish(req);
        assert!(t.complete && wrong.is_none() && t.token_events_at.len() == 2);
        // A wrong token is caught on a checked stream; a missing [DONE] makes it incomplete.
        let body = format!("{}{}", event(0, words[0]), event(1, "nope"));
        let mut st = SseState::default();
        st.feed(body.as_bytes(), req, true);
        let (t, wrong) = st.finish(req);
        assert!(!t.complete);
        assert!(wrong.unwrap().contains("event 1"));
    }
}
