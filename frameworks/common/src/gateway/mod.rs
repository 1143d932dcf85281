//! What the four gateways (`POST /v1/chat/completions`, docs/contract.md) do alike whatever
//! their HTTP client: the `--upstream` URL, the completion id, the 502 rules, and the
//! re-labelling of the upstream's SSE stream with that id. Each target keeps only what is
//! its framework's own: its client, its request and its response types. The two targets
//! on reqwest (axum, poem) share its use too ([`reqwest_client`], feature `reqwest`).

use std::collections::hash_map::RandomState;
use std::error::Error;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value};
use workloads::ApiError;
use workloads::model::SplitMix64;
use workloads::sse::{SseEvent, SseParser};

#[cfg(feature = "reqwest")]
pub mod reqwest_client;

/// The path a gateway serves and posts to on its upstream.
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// `--upstream`: an OpenAI-compatible server's base URL, `http://host:port[/prefix]`.
/// Only plain http: the targets' clients are built without TLS (the upstream of every run
/// is the mock on loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    chat_url: String,
}

impl Upstream {
    /// Where the gateway posts: the base URL followed by [`CHAT_PATH`].
    pub fn chat_url(&self) -> &str {
        &self.chat_url
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chat_url)
    }
}

impl std::str::FromStr for Upstream {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = match s.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &s[7..],
            _ if s.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")) => {
                return Err(format!("{s}: https is not supported (the gateway clients are built without TLS)"));
            }
            _ => return Err(format!("{s}: expected http://HOST:PORT")),
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || rest.contains(['?', '#']) || rest.contains(char::is_whitespace) {
            return Err(format!("{s}: expected http://HOST:PORT[/PATH], without a query"));
        }
        Ok(Upstream { chat_url: format!("http://{}{CHAT_PATH}", rest.trim_end_matches('/')) })
    }
}

/// A fresh completion id, `chatcmpl-<16 hex digits>`: one per caller request, never the
/// upstream's. splitmix64 of a per-process random seed plus a counter, so ids never repeat
/// within a process (the mix is a bijection) and differ between processes.
pub fn completion_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // std's RandomState is keyed from the OS's randomness once per process.
    let seed = *SEED.get_or_init(|| RandomState::new().build_hasher().finish());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:016x}", SplitMix64::new(seed.wrapping_add(n)).next_u64())
}

fn bad_gateway(msg: String) -> ApiError {
    ApiError::BadGateway { msg }
}

/// The 502 of a server started without `--upstream`.
pub fn no_upstream() -> ApiError {
    bad_gateway("no upstream: start the server with --upstream http://HOST:PORT".into())
}

/// The 502 of a request that got no answer (refused, reset, closed without an answer).
pub fn unreachable(upstream: &Upstream, e: &(dyn Error + 'static)) -> ApiError {
    bad_gateway(format!("POST {upstream} failed: {}", error_chain(e)))
}

/// The 502 of an answer whose body broke off while it was read (non-streaming).
pub fn body_failed(upstream: &Upstream, e: &(dyn Error + 'static)) -> ApiError {
    bad_gateway(format!("reading the answer of {upstream} failed: {}", error_chain(e)))
}

/// `e` and its sources, `: `-separated: clients wrap the cause (`connection refused`) in
/// errors whose own text does not name it.
fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Any answer but a 200 is a 502 (streaming or not).
pub fn check_status(upstream: &Upstream, status: u16) -> Result<(), ApiError> {
    if status == 200 { Ok(()) } else { Err(bad_gateway(format!("{upstream} answered {status}, expected 200"))) }
}

/// The head of a streaming answer: 200 and `text/event-stream` (case-insensitive, with any
/// parameters), else 502 before the target sends its own head.
pub fn check_stream_head(upstream: &Upstream, status: u16, content_type: Option<&[u8]>) -> Result<(), ApiError> {
    check_status(upstream, status)?;
    let essence = content_type.map(|v| v.split(|&b| b == b';').next().unwrap_or_default().trim_ascii());
    if essence.is_some_and(|e| e.eq_ignore_ascii_case(b"text/event-stream")) {
        return Ok(());
    }
    let got = content_type.map_or("none".into(), String::from_utf8_lossy);
    Err(bad_gateway(format!("{upstream} answered content-type {got}, expected text/event-stream")))
}

/// The body of a non-streaming answer must be a JSON object; it is passed on as it is.
pub fn check_completion(upstream: &Upstream, body: &[u8]) -> Result<(), ApiError> {
    match serde_json::from_slice::<Map<String, Value>>(body) {
        Ok(_) => Ok(()),
        Err(e) => Err(bad_gateway(format!("the answer of {upstream} is not a JSON object: {e}"))),
    }
}

/// What [`Relabel::feed`] found in a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// The stream goes on.
    More,
    /// The upstream sent `[DONE]`; its frame is the last one written.
    Done,
    /// An event's `data` is not a JSON object: the stream ends here, without `[DONE]`.
    Broken(String),
}

/// Re-labels an upstream SSE stream incrementally (docs/contract.md, "Streaming"): feed it
/// the upstream's bytes as they arrive, however they are cut; it writes one
/// `data: <json>\n\n` frame for each event whose data is a JSON object, with `id` set to
/// this completion's, and `data: [DONE]\n\n` for `[DONE]`. Comments and events without data
/// are dropped; the line rules (LF, CRLF, CR, events split across reads) are the shared
/// parser's ([`workloads::sse`]).
#[derive(Debug)]
pub struct Relabel {
    id: Value,
    parser: SseParser,
    events: Vec<SseEvent>,
    ended: bool,
}

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

impl Relabel {
    pub fn new(id: String) -> Self {
        Relabel { id: Value::String(id), parser: SseParser::new(), events: Vec::new(), ended: false }
    }

    /// Appends the frames that `chunk` completes to `out`. After `Done` or `Broken`, later
    /// bytes are ignored.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Fed {
        if self.ended {
            return Fed::Done;
        }
        self.parser.feed(chunk, &mut self.events);
        let mut fed = Fed::More;
        for ev in self.events.drain(..) {
            if ev.data.trim() == "[DONE]" {
                out.extend_from_slice(DONE_FRAME);
                fed = Fed::Done;
                break;
            }
            match serde_json::from_str::<Map<String, Value>>(&ev.data) {
                Ok(mut chunk) => {
                    chunk.insert("id".into(), self.id.clone());
                    out.extend_from_slice(b"data: ");
                    serde_json::to_writer(&mut *out, &chunk).expect("a JSON map encodes into a Vec");
                    out.extend_from_slice(b"\n\n");
                }
                Err(e) => {
                    fed = Fed::Broken(format!("an upstream event is not a JSON object ({e}): {:.80}", ev.data));
                    break;
                }
            }
        }
        self.ended = fed != Fed::More;
        fed
    }
}

enum Phase<S> {
    Relaying(Pin<Box<S>>, Relabel),
    /// `[DONE]` has been written: read the upstream to its end, so that its connection goes
    /// back to the client's pool instead of being closed with an unread terminator.
    Draining(Pin<Box<S>>),
}

/// The target's SSE body: `upstream` (a client's body as a byte stream) through a
/// [`Relabel`] with a fresh [`completion_id`], one item per upstream read that completes a
/// frame, so every frame is written as soon as it arrives. It ends after `[DONE]`, and
/// without it as soon as the upstream ends, fails or sends data that is not a JSON object.
/// Dropping it (what every framework does when the caller goes away) drops `upstream`,
/// which closes that upstream connection.
pub fn relabelled<S, E>(upstream: S) -> impl Stream<Item = Result<Bytes, io::Error>> + 'static
where
    S: Stream<Item = Result<Bytes, E>> + 'static,
    E: fmt::Display,
{
    let start = Phase::Relaying(Box::pin(upstream), Relabel::new(completion_id()));
    futures_util::stream::unfold(Some(start), |phase| async move {
        let (mut upstream, mut relabel) = match phase? {
            Phase::Relaying(upstream, relabel) => (upstream, relabel),
            Phase::Draining(mut upstream) => {
                while let Some(Ok(_)) = upstream.next().await {}
                return None;
            }
        };
        loop {
            let chunk = match upstream.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    tracing::debug!("upstream stream failed before [DONE]: {e}");
                    return None;
                }
                None => {
                    tracing::debug!("upstream stream ended before [DONE]");
                    return None;
                }
            };
            let mut out = Vec::new();
            let next = match relabel.feed(&chunk, &mut out) {
                Fed::More if out.is_empty() => continue,
                Fed::More => Some(Phase::Relaying(upstream, relabel)),
                Fed::Done => Some(Phase::Draining(upstream)),
                Fed::Broken(why) => {
                    tracing::debug!("{why}");
                    None
                }
            };
            return match (out.is_empty(), next) {
                (true, _) => None,
                (false, next) => Some((Ok(Bytes::from(out)), next)),
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Upstream {
        "http://127.0.0.1:9".parse().unwrap()
    }

    const ID: &str = "chatcmpl-0123456789abcdef";

    fn chunk_json(n: u32) -> String {
        format!(
            r#"{{"id":"chatcmpl-mock-7","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"w{n} "}},"finish_reason":null}}]}}"#
        )
    }

    /// Feeds `pieces` one after the other; returns the frames' data and the last outcome.
    fn run(pieces: &[&[u8]]) -> (Vec<String>, Fed) {
        let mut r = Relabel::new(ID.into());
        let mut out = Vec::new();
        let mut fed = Fed::More;
        for p in pieces {
            fed = r.feed(p, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.is_empty() || text.ends_with("\n\n"), "frames end in a blank line: {text:?}");
        let frames = text.split_terminator("\n\n").map(|f| f.strip_prefix("data: ").unwrap().to_owned()).collect();
        (frames, fed)
    }

    fn relabelled_chunk(n: u32) -> String {
        let mut v: Value = serde_json::from_str(&chunk_json(n)).unwrap();
        v["id"] = ID.into();
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn sets_our_id_and_keeps_every_other_field() {
        let body = format!("data: {}\n\ndata: {}\n\ndata: [DONE]\n\n", chunk_json(0), chunk_json(1));
        let (frames, fed) = run(&[body.as_bytes()]);
        assert_eq!(frames, [relabelled_chunk(0), relabelled_chunk(1), "[DONE]".into()]);
        assert_eq!(fed, Fed::Done);
        let v: Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(v["id"], ID);
        assert_eq!(v["choices"][0]["delta"]["content"], "w0 ");
        assert_eq!(v["object"], "chat.completion.chunk");
    }

    #[test]
    fn events_split_across_reads_anywhere_give_the_same_frames() {
        let body =
            format!("data: {}\r\n\r\n: ping\r\n\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n", chunk_json(0), chunk_json(1));
        let want = run(&[body.as_bytes()]);
        assert_eq!(want.0.len(), 3);
        for cut in 0..body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(run(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(run(&bytes), want, "byte by byte");
    }

    #[test]
    fn lf_crlf_and_cr_line_endings_are_equal() {
        let want = (vec![relabelled_chunk(3), "[DONE]".into()], Fed::Done);
        for nl in ["\n", "\r\n", "\r"] {
            let body = format!("data: {}{nl}{nl}data: [DONE]{nl}{nl}", chunk_json(3));
            assert_eq!(run(&[body.as_bytes()]), want, "{nl:?}");
        }
    }

    #[test]
    fn comments_and_events_without_data_are_dropped() {
        let body = format!(": ping\n\nevent: keepalive\n\nid: 4\nretry: 10\n\ndata: {}\n\n:x\n", chunk_json(5));
        assert_eq!(run(&[body.as_bytes()]), (vec![relabelled_chunk(5)], Fed::More));
    }

    #[test]
    fn a_frame_is_written_only_once_its_event_is_complete() {
        let body = format!("data: {}\n", chunk_json(0));
        assert_eq!(run(&[body.as_bytes()]), (vec![], Fed::More));
        assert_eq!(run(&[body.as_bytes(), b"\n"]), (vec![relabelled_chunk(0)], Fed::More));
    }

    #[test]
    fn data_that_is_not_a_json_object_breaks_the_stream() {
        for bad in ["{\"id\":", "not json", "[1,2]", "42", "\"s\""] {
            let body = format!("data: {}\n\ndata: {bad}\n\ndata: {}\n\n", chunk_json(0), chunk_json(1));
            let (frames, fed) = run(&[body.as_bytes()]);
            assert_eq!(frames, [relabelled_chunk(0)], "{bad}: frames before it are kept, none after");
            assert!(matches!(fed, Fed::Broken(_)), "{bad}: {fed:?}");
        }
    }

    #[test]
    fn nothing_after_done_is_written() {
        let body = format!("data: [DONE]\n\ndata: {}\n\n", chunk_json(0));
        let tail = format!("data: {}\n\n", chunk_json(1));
        assert_eq!(run(&[body.as_bytes(), tail.as_bytes()]), (vec!["[DONE]".into()], Fed::Done));
    }

    #[test]
    fn ids_are_ours_distinct_and_well_formed() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| completion_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let hex = id.strip_prefix("chatcmpl-").unwrap();
            assert!(hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn upstream_urls() {
        let chat = |s: &str| s.parse::<Upstream>().map(|u| u.chat_url().to_owned());
        assert_eq!(chat("http://127.0.0.1:8000"), Ok("http://127.0.0.1:8000/v1/chat/completions".into()));
        assert_eq!(chat("HTTP://localhost:1/"), Ok("http://localhost:1/v1/chat/completions".into()));
        assert_eq!(chat("http://h:1/openai/"), Ok("http://h:1/openai/v1/chat/completions".into()));
        for bad in ["https://h:1", "h:1", "http://", "http:///x", "http://h:1/?q", "", "ftp://h"] {
            assert!(chat(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heads_and_bodies_that_are_502s() {
        let u = up();
        assert!(check_stream_head(&u, 200, Some(b"text/event-stream")).is_ok());
        assert!(check_stream_head(&u, 200, Some(b"Text/Event-Stream; charset=utf-8")).is_ok());
        for (status, ct) in [(500, Some(&b"text/event-stream"[..])), (200, Some(b"application/json")), (200, None)] {
            let e = check_stream_head(&u, status, ct).unwrap_err();
            assert_eq!(e.status(), 502);
        }
        assert!(check_status(&u, 200).is_ok());
        assert_eq!(check_status(&u, 404).unwrap_err().status(), 502);
        assert!(check_completion(&u, br#"{"id":"x","choices":[]}"#).is_ok());
        for bad in [&b"[]"[..], b"", b"{", b"null", b"<html>"] {
            assert_eq!(check_completion(&u, bad).unwrap_err().status(), 502);
        }
        assert_eq!(no_upstream().status(), 502);
    }

    #[test]
    fn error_chains_name_the_cause_once() {
        let cause = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = unreachable(&up(), &Wrapper(cause));
        let ApiError::BadGateway { msg } = e else { panic!() };
        assert_eq!(
            msg,
            "POST http://127.0.0.1:9/v1/chat/completions failed: error sending request: connection refused"
        );
    }

    /// An upstream body as a stream of reads; counts whether it was dropped.
    fn upstream(
        reads: Vec<Result<&'static str, &'static str>>,
        dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> impl Stream<Item = Result<Bytes, String>> {
        struct Guard(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = Guard(dropped);
        futures_util::stream::iter(reads).map(move |r| {
            let _keep = &guard;
            r.map(|s| Bytes::from_static(s.as_bytes())).map_err(String::from)
        })
    }

    async fn collect(s: impl Stream<Item = Result<Bytes, io::Error>>) -> Vec<String> {
        s.map(|r| String::from_utf8(r.unwrap().to_vec()).unwrap()).collect().await
    }

    #[tokio::test]
    async fn the_stream_yields_a_frame_per_read_and_ends_after_done() {
        let dropped = Default::default();
        let reads = vec![
            Ok(": ping\n\n"),
            Ok("data: {\"id\":\"up\",\"n\":1}\n\ndata: {\"n\""),
            Ok(":2}\n\n"),
            Ok("data: [DONE]\n\n"),
            Ok("ignored after [DONE]"),
        ];
        let got = collect(relabelled(upstream(reads, std::sync::Arc::clone(&dropped)))).await;
        assert_eq!(got.len(), 3, "{got:?}");
        let id = serde_json::from_str::<Value>(got[0].strip_prefix("data: ").unwrap().trim()).unwrap()["id"].clone();
        assert!(id.as_str().unwrap().starts_with("chatcmpl-") && id != "up", "{id}");
        assert_eq!(got[0], format!("data: {{\"id\":{id},\"n\":1}}\n\n"));
        assert_eq!(got[1], format!("data: {{\"id\":{id},\"n\":2}}\n\n"));
        assert_eq!(got[2], "data: [DONE]\n\n");
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn the_stream_ends_without_done_when_the_upstream_breaks() {
        for tail in [vec![Err("reset")], vec![], vec![Ok("data: nope\n\n"), Ok("data: [DONE]\n\n")]] {
            let mut reads = vec![Ok("data: {\"n\":1}\n\n")];
            reads.extend(tail.clone());
            let got = collect(relabelled(upstream(reads, Default::default()))).await;
            assert_eq!(got.len(), 1, "{tail:?}: {got:?}");
            assert!(got[0].contains("\"n\":1"));
        }
    }

    #[tokio::test]
    async fn dropping_the_stream_drops_the_upstream() {
        let dropped: std::sync::Arc<std::sync::atomic::AtomicBool> = Default::default();
        let pending = futures_util::stream::pending::<Result<Bytes, String>>();
        let reads = upstream(vec![Ok("data: {\"n\":1}\n\n")], std::sync::Arc::clone(&dropped)).chain(pending);
        let mut s = Box::pin(relabelled(reads));
        assert!(s.next().await.unwrap().is_ok());
        assert!(!dropped.load(Ordering::SeqCst));
        drop(s);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
