//! A raw HTTP/1.1 client for the tests: it timestamps every SSE event as its last byte
//! arrives and tells a complete chunked body from one cut short, which a full client
//! would hide behind its own buffering and errors.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One SSE event: its text without the trailing blank line, and when it arrived.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Duration,
    pub text: String,
}

impl Event {
    /// The `data:` payload parsed as JSON (None for `[DONE]` and comments).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.text.strip_prefix("data: ")?).ok()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// SSE events of the body, in order.
    pub events: Vec<Event>,
    /// The body ended as framed (terminating chunk or full content length).
    pub complete: bool,
    /// When the whole body had arrived.
    pub done_at: Duration,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub fn chat_body(max_tokens: u64, stream: bool, include_usage: bool) -> String {
    format!(
        r#"{{"model":"test-model","stream":{stream},"max_tokens":{max_tokens},"stream_options":{{"include_usage":{include_usage}}},
            "messages":[{{"role":"user","content":"count these four words"}}]}}"#
    )
}

pub fn http_request(method: &str, path: &str, body: Option<&str>) -> String {
    let body = body.unwrap_or("");
    format!(
        "{method} {path} HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

pub async fn connect_and_send(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> TcpStream {
    send_raw(addr, &http_request(method, path, body)).await
}

async fn send_raw(addr: SocketAddr, raw: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    stream
}

/// Sends one request and reads the reply to its end. None: the connection closed before
/// any byte of a response.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Option<Reply> {
    request_raw(addr, &http_request(method, path, body)).await
}

/// [`request`] with the request's bytes given verbatim.
pub async fn request_raw(addr: SocketAddr, raw: &str) -> Option<Reply> {
    let sent = Instant::now();
    let mut stream = send_raw(addr, raw).await;
    let mut raw = Vec::new();
    let mut parser: Option<Parser> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        let at = sent.elapsed();
        raw.extend_from_slice(&buf[..n]);
        if parser.is_none() {
            parser = Parser::from_head(&mut raw);
        }
        if let Some(p) = parser.as_mut() {
            p.feed(&mut raw, at);
            if p.reply.complete || n == 0 {
                let mut reply = parser.take().unwrap().reply;
                reply.done_at = at;
                return Some(reply);
            }
        } else if n == 0 {
            assert!(raw.is_empty(), "connection closed inside the response head");
            return None;
        }
    }
}

/// Incremental body decoder.
struct Parser {
    reply: Reply,
    chunked: bool,
    content_length: usize,
    events_scanned: usize,
}

impl Parser {
    fn from_head(raw: &mut Vec<u8>) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(len) = resp.parse(raw).unwrap() else { return None };
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap()))
            .collect();
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let chunked = find("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let content_length = find("content-length").map_or(0, |v| v.parse().unwrap());
        let reply = Reply {
            status: resp.code.unwrap(),
            headers,
            body: Vec::new(),
            events: Vec::new(),
            complete: false,
            done_at: Duration::ZERO,
        };
        raw.drain(..len);
        Some(Parser { reply, chunked, content_length, events_scanned: 0 })
    }

    fn feed(&mut self, raw: &mut Vec<u8>, at: Duration) {
        if !self.chunked {
            self.reply.body.append(raw);
            self.reply.complete = self.reply.body.len() >= self.content_length;
        } else {
            while let Some(chunk) = take_chunk(raw) {
                match chunk {
                    Some(data) => self.reply.body.extend_from_slice(&data),
                    None => self.reply.complete = true,
                }
            }
        }
        self.scan_events(at);
    }

    fn scan_events(&mut self, at: Duration) {
        let body = &self.reply.body;
        while let Some(end) = find(&body[self.events_scanned..], b"\n\n") {
            let text = &body[self.events_scanned..self.events_scanned + end];
            let text = String::from_utf8(text.to_vec()).expect("event is valid UTF-8");
            self.reply.events.push(Event { at, text });
            self.events_scanned += end + 2;
        }
    }
}

/// Takes one chunk off `raw`: Some(Some(data)), Some(None) for the terminating chunk,
/// None when it has not fully arrived.
fn take_chunk(raw: &mut Vec<u8>) -> Option<Option<Vec<u8>>> {
    let line_end = find(raw, b"\r\n")?;
    let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
    let total = line_end + 2 + size + 2;
    if raw.len() < total {
        return None;
    }
    let data = raw[line_end + 2..line_end + 2 + size].to_vec();
    raw.drain(..total);
    Some(if size == 0 { None } else { Some(data) })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Output chunks: events whose delta carries `content` or `reasoning_content`, the role
/// chunk excluded.
pub fn output_chunks(events: &[Event]) -> Vec<(Duration, String)> {
    events
        .iter()
        .filter_map(|e| {
            let v = e.json()?;
            let delta = v.get("choices")?.get(0)?.get("delta")?;
            if delta.get("role").is_some() {
                return None;
            }
            let text = delta.get("content").or_else(|| delta.get("reasoning_content"))?.as_str()?;
            Some((e.at, text.to_owned()))
        })
        .collect()
}

/// Polls `cond` on the stats every 2 ms until it holds or `within` passes.
pub async fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
