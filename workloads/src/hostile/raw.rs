//! Sends hostile cases on a plain blocking socket, one fresh connection per case, and reads
//! back every answer that arrives. Ordinary HTTP clients refuse to send most of the corpus
//! (a lying Content-Length, no path, bare LF), so the bytes are written by hand here and
//! only the answers are parsed (with `httparse`). The writer runs on its own thread so a
//! server that answers early (413) and stops reading cannot stall the reader.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::{Exchange, Framing, HostileCase, HostileReport};
use crate::conformance::Observed;

/// How long one case may take in all.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits for `100 Continue` before sending the body anyway (curl's default).
pub const CONTINUE_WAIT: Duration = Duration::from_secs(1);
/// Size of the pieces of a chunked body.
const CHUNK: usize = 64 * 1024;

/// The request's head and body bytes, as they go on the wire.
pub fn request_bytes(case: &HostileCase, authority: &str) -> (Vec<u8>, Vec<u8>) {
    if let Some(raw) = &case.raw {
        return (raw.as_bytes().to_vec(), Vec::new());
    }
    let body = case.body.bytes();
    let mut head = format!("{} {} {}\r\nhost: {authority}\r\n", case.method, case.path, case.version);
    for (k, v) in &case.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if case.expect_continue {
        head.push_str("expect: 100-continue\r\n");
    }
    let body = match case.framing {
        Framing::Length => {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
            body
        }
        Framing::Announce(n) => {
            head.push_str(&format!("content-length: {n}\r\n"));
            body
        }
        Framing::None => body,
        Framing::Chunked => {
            head.push_str("transfer-encoding: chunked\r\n");
            let mut out = Vec::with_capacity(body.len() + body.len() / CHUNK * 10 + 8);
            for piece in body.chunks(CHUNK) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }
    };
    head.push_str("\r\n");
    (head.into_bytes(), body)
}

/// Reads answers off one connection.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

enum Read1 {
    Answer(Observed),
    Interim,
    Closed,
    TimedOut,
    Garbled(String),
}

impl Reader {
    /// Reads more bytes until `deadline`; false on timeout. Sets `eof` on close or reset.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let mut piece = [0u8; 64 * 1024];
        match self.stream.read(&mut piece) {
            Ok(0) => {
                self.eof = true;
                true
            }
            Ok(n) => {
                self.buf.extend_from_slice(&piece[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            // A reset counts as a close: the server gave up on the connection.
            Err(_) => {
                self.eof = true;
                true
            }
        }
    }

    /// The next answer (interim ones included). `bodiless`: the request was a HEAD.
    fn next(&mut self, bodiless: bool, deadline: Instant) -> Read1 {
        let (status, headers, head_len) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let headers: Vec<(String, String)> = resp
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect();
                    break (resp.code.unwrap_or(0), headers, len);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => {
                    let start = String::from_utf8_lossy(&self.buf[..self.buf.len().min(80)]).into_owned();
                    return Read1::Garbled(format!("unparseable answer ({e}): {start:?}"));
                }
            }
            if self.eof {
                return if self.buf.is_empty() {
                    Read1::Closed
                } else {
                    Read1::Garbled(format!("connection closed inside an answer head ({} bytes)", self.buf.len()))
                };
            }
            if !self.fill(deadline) {
                return Read1::TimedOut;
            }
        };
        self.buf.drain(..head_len);
        if (100..200).contains(&status) {
            return Read1::Interim;
        }
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
        let body = if bodiless || status == 204 || status == 304 {
            Some(Vec::new())
        } else if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            self.chunked_body(deadline)
        } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < n && !self.eof {
                if !self.fill(deadline) {
                    return Read1::TimedOut;
                }
            }
            let n = n.min(self.buf.len());
            Some(self.buf.drain(..n).collect())
        } else {
            // No length: the body runs to the close.
            while !self.eof {
                if !self.fill(deadline) {
                    return Read1::TimedOut;
                }
            }
            Some(std::mem::take(&mut self.buf))
        };
        match body {
            Some(body) => Read1::Answer(Observed { status, headers, body, chunks: Vec::new() }),
            None => Read1::TimedOut,
        }
    }

    /// A chunked body, decoded; None on timeout. A close mid-body keeps what arrived.
    fn chunked_body(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let (start, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((start, size))) => break (start, size as usize),
                    Ok(httparse::Status::Partial) if !self.eof => {
                        if !self.fill(deadline) {
                            return None;
                        }
                    }
                    _ => return Some(body),
                }
            };
            // Chunk data, its CRLF; the last chunk is followed by (empty) trailers and CRLF.
            while self.buf.len() < start + size + 2 && !self.eof {
                if !self.fill(deadline) {
                    return None;
                }
            }
            let end = (start + size).min(self.buf.len());
            body.extend_from_slice(&self.buf[start..end]);
            self.buf.drain(..(start + size + 2).min(self.buf.len()));
            if size == 0 || self.eof && self.buf.is_empty() {
                return Some(body);
            }
        }
    }
}

/// Runs one case against `authority` (`host:port`). Errors only when the connection cannot
/// be opened at all.
pub fn exchange(authority: &str, case: &HostileCase) -> std::io::Result<Exchange> {
    let deadline = Instant::now() + CASE_TIMEOUT;
    let stream = TcpStream::connect(authority)?;
    stream.set_nodelay(true)?;
    let (head, body) = request_bytes(case, authority);
    let mut reader = Reader { stream: stream.try_clone()?, buf: Vec::new(), eof: false };
    let mut got = Exchange::default();
    let bodiless = case.method == "HEAD";
    let mut writer_stream = stream.try_clone()?;
    let mut body = Some(body);
    if case.expect_continue {
        // Head first; the body only after `100 Continue` or a second of silence.
        let _ = writer_stream.write_all(&head);
        match reader.next(bodiless, Instant::now() + CONTINUE_WAIT) {
            Read1::Interim | Read1::TimedOut => {}
            Read1::Answer(a) => {
                got.answers.push(a);
                body = None;
            }
            Read1::Closed => got.closed = true,
            Read1::Garbled(why) => got.trouble = Some(why),
        }
    }
    let close_after = case.close_write_after_ms.map(Duration::from_millis);
    let writer = (!got.closed && got.trouble.is_none()).then(|| {
        let head = if case.expect_continue { Vec::new() } else { head };
        let body = body.take().unwrap_or_default();
        std::thread::spawn(move || {
            // Write errors are expected (the server may answer early and close): the answers
            // are what is judged.
            if writer_stream.write_all(&head).and_then(|()| writer_stream.write_all(&body)).is_ok()
                && let Some(wait) = close_after
            {
                std::thread::sleep(wait);
                let _ = writer_stream.shutdown(Shutdown::Write);
            }
        })
    });
    while got.answers.len() < case.answers_expected() && !got.closed && got.trouble.is_none() {
        match reader.next(bodiless && got.answers.is_empty(), deadline) {
            Read1::Answer(a) => got.answers.push(a),
            Read1::Interim => {}
            Read1::Closed => got.closed = true,
            Read1::TimedOut => got.trouble = Some(format!("no complete answer within {CASE_TIMEOUT:?}")),
            Read1::Garbled(why) => got.trouble = Some(why),
        }
    }
    // Unblocks a writer stuck on a server that stopped reading.
    let _ = stream.shutdown(Shutdown::Both);
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(got)
}

/// Runs every case against `authority` and judges each exchange. A case whose connection is
/// refused is a failure with the reason (the server is gone), so the rest still run.
pub fn run_corpus(authority: &str, cases: &[HostileCase]) -> HostileReport {
    let mut report = HostileReport::default();
    for case in cases {
        match exchange(authority, case) {
            Ok(got) => report.record(case, &got),
            Err(e) => {
                report.refused += 1;
                report.failed.push((case.name.clone(), vec![format!("cannot connect to {authority}: {e}")]));
            }
        }
    }
    report
}

/// Times `GET /health` on a fresh connection; an error when no 200 arrives within `limit`.
pub fn health_within(authority: &str, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let addr: std::net::SocketAddr = authority.parse().map_err(|e| format!("bad address {authority:?}: {e}"))?;
    let stream = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let mut w = stream.try_clone().map_err(|e| e.to_string())?;
    w.write_all(format!("GET /health HTTP/1.1\r\nhost: {authority}\r\n\r\n").as_bytes())
        .map_err(|e| format!("cannot send to {authority}: {e}"))?;
    let mut reader = Reader { stream, buf: Vec::new(), eof: false };
    match reader.next(false, started + limit) {
        Read1::Answer(a) if a.status == 200 => Ok(started.elapsed()),
        Read1::Answer(a) => Err(format!("/health answered {}", a.status)),
        Read1::TimedOut | Read1::Interim => Err(format!("/health did not answer within {limit:?}")),
        Read1::Closed => Err("/health: connection closed without an answer".into()),
        Read1::Garbled(why) => Err(format!("/health: {why}")),
    }
}

/// `http://host:port[/]` to `host:port`.
pub fn authority(base_url: &str) -> Option<&str> {
    let a = base_url.strip_prefix("http://")?.trim_end_matches('/');
    (!a.is_empty() && !a.contains('/') && a.contains(':')).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::{Allowed, Body};

    fn answered_by(server_bytes: &'static [u8], case: &HostileCase) -> Exchange {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut sink = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = s.read(&mut sink);
            s.write_all(server_bytes).unwrap();
        });
        let got = exchange(&addr, case).unwrap();
        server.join().unwrap();
        got
    }

    fn get_case(then: usize) -> HostileCase {
        let mut c = super::super::parse_corpus(
            r#"{"name":"t","method":"GET","path":"/health","framing":"none","expect":[200]}"#,
        )
        .unwrap()
        .remove(0);
        c.then = vec![vec![Allowed::Status(200)]; then];
        c
    }

    #[test]
    fn reads_pipelined_answers_with_length_and_chunked_bodies_and_skips_interim() {
        let bytes: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let got = answered_by(bytes, &get_case(1));
        assert_eq!(got.answers.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 404]);
        assert_eq!(got.answers[0].body, b"ok");
        assert_eq!(got.answers[1].body, b"abc");
    }

    #[test]
    fn a_close_without_an_answer_is_recorded_as_closed() {
        let got = answered_by(b"", &get_case(0));
        assert!(got.closed && got.answers.is_empty() && got.trouble.is_none());
    }

    #[test]
    fn chunked_framing_and_lying_lengths_go_on_the_wire_as_written() {
        let mut c = get_case(0);
        c.method = "POST".into();
        c.body = Body::Text("x".repeat(70_000));
        c.framing = Framing::Chunked;
        let (head, body) = request_bytes(&c, "h:1");
        assert!(String::from_utf8(head).unwrap().contains("transfer-encoding: chunked\r\n"));
        assert!(body.starts_with(b"10000\r\n") && body.ends_with(b"\r\n0\r\n\r\n"));
        c.framing = Framing::Announce(5);
        let (head, body) = request_bytes(&c, "h:1");
        assert!(String::from_utf8(head).unwrap().contains("content-length: 5\r\n"));
        assert_eq!(body.len(), 70_000);
    }
}
