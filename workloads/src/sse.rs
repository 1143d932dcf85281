//! An incremental Server-Sent Events parser that follows the WHATWG event-stream rules:
//! lines end in `\n`, `\r\n` or `\r` (a `\r\n` may straddle two chunks), an empty line
//! dispatches the event, `:` lines are comments. A chunk is not an event: events are
//! whatever the line rules make of the concatenated bytes.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    event: String,
    has_data: bool,
    after_cr: bool,
    started: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk and appends every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        let mut rest = chunk;
        // A UTF-8 BOM at the very start of the stream is ignored by the spec.
        if !self.started && !rest.is_empty() {
            self.started = true;
            rest = rest.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rest);
        }
        for &b in rest {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        self.after_cr = false;
        if self.line.is_empty() {
            if self.has_data {
                out.push(SseEvent { event: std::mem::take(&mut self.event), data: std::mem::take(&mut self.data) });
            }
            self.event.clear();
            self.has_data = false;
            return;
        }
        let line = String::from_utf8_lossy(&self.line);
        if !line.starts_with(':') {
            let (field, value) = match line.find(':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (&line[..], ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                }
                "event" => self.event = value.to_owned(),
                _ => {} // id and retry do not matter to a benchmark client
            }
        }
        self.line.clear();
    }
}

/// Parses a whole body at once.
pub fn parse_all(body: &[u8]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(evs: &[SseEvent]) -> Vec<&str> {
        evs.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn all_line_endings_are_equal() {
        for body in ["data: a\n\ndata: b\n\n", "data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\rdata: b\r\r"] {
            assert_eq!(data(&parse_all(body.as_bytes())), ["a", "b"], "{body:?}");
        }
    }

    #[test]
    fn comments_multiline_and_unterminated() {
        let evs = parse_all(b": hi\ndata: x\ndata:y\nevent: t\n\ndata: tail");
        assert_eq!(evs, vec![SseEvent { event: "t".into(), data: "x\ny".into() }]);
    }

    /// Keep-alive comments between and inside events, mixed line endings in one stream, and
    /// a `\r\n` split across chunks, fed one byte at a time: a chunk is not an event.
    #[test]
    fn keepalives_and_mixed_endings_byte_by_byte() {
        let body = b":keep-alive\r\n\r\ndata: a\r\n: ping\ndata: b\r\r: ka\n\nevent: token\ndata: c\n\r\n";
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for b in body.chunks(1) {
            p.feed(b, &mut out);
        }
        let want = vec![
            SseEvent { event: String::new(), data: "a\nb".into() },
            SseEvent { event: "token".into(), data: "c".into() },
        ];
        assert_eq!(out, want);
        // Comment-only blocks dispatch nothing; the same bytes in one chunk give the same events.
        assert_eq!(parse_all(body), want);
    }

    proptest! {
        /// However the bytes are cut into chunks, the events are the same.
        #[test]
        fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..60, 0..8), crlf in any::<bool>()) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let body = format!("data: {{\"index\":0}}{nl}{nl}: c{nl}data: two{nl}{nl}data: [DONE]{nl}{nl}");
            let bytes = body.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                p.feed(&bytes[prev..c], &mut out);
                prev = c;
            }
            prop_assert_eq!(data(&out), vec!["{\"index\":0}", "two", "[DONE]"]);
        }
    }
}
