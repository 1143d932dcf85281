//! The hostile corpus: malformed, oversized, oddly framed and plainly rude requests, and the
//! rules that judge the answers.
//!
//! Like the conformance corpus it is data (`workloads/hostile/cases.jsonl`, written by
//! `cargo run -p workloads --bin gen-hostile` from [`define`]), so every target and every
//! language is asked exactly the same thing. Each case lists the outcomes it allows for its
//! first answer (and for each further answer of a pipelined exchange): statuses fixed by
//! docs/contract.md, the contract's "either" lists, or, for what the contract does not
//! cover, "any 4xx" and "closed". One rule holds for every case and every answer: **never a
//! 5xx**. The requests go out on a raw socket ([`raw`]) so that framing the ordinary HTTP
//! clients refuse to produce (lying Content-Length, no path, 1,000 headers, pipelining)
//! can be sent at all.

pub mod define;
#[cfg(feature = "http")]
pub mod raw;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conformance;

/// The corpus as committed.
pub const CORPUS_JSONL: &str = include_str!("../../hostile/cases.jsonl");

/// One hostile exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostileCase {
    pub name: String,
    pub method: String,
    pub path: String,
    /// The request line's protocol.
    #[serde(default = "http11", skip_serializing_if = "is_http11")]
    pub version: String,
    /// Request headers in order, sent verbatim. `host` is added first; Content-Length or
    /// Transfer-Encoding follow from `framing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Body::is_none")]
    pub body: Body,
    #[serde(default, skip_serializing_if = "Framing::is_length")]
    pub framing: Framing,
    /// Send the head with `Expect: 100-continue`, wait up to 1 s for an interim or final
    /// answer, then send the body (as curl does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expect_continue: bool,
    /// After sending, wait this long and then shut the write side (a client that gave up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_write_after_ms: Option<u64>,
    /// Bytes sent verbatim instead of a request built from the fields above (`\r\n`
    /// spelled out). For request lines and framing no builder would produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Allowed outcomes of the first answer.
    pub expect: Vec<Allowed>,
    /// Allowed outcomes of each further answer on the same connection (pipelining).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Vec<Allowed>>,
    /// `detail[0].loc` of a single-violation 422, when the case fixes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<Vec<Value>>,
}

fn http11() -> String {
    "HTTP/1.1".into()
}

fn is_http11(v: &String) -> bool {
    v == "HTTP/1.1"
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    #[default]
    None,
    Json(Value),
    /// Text sent verbatim.
    Text(String),
    /// Bytes in hex, for bodies that are not UTF-8.
    Hex(String),
    /// A body too large to store, made by [`define::generated`].
    Generated {
        name: String,
        n: usize,
    },
}

impl Body {
    pub fn is_none(&self) -> bool {
        matches!(self, Body::None)
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Body::None => Vec::new(),
            Body::Json(v) => serde_json::to_vec(v).expect("Value serialises"),
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Hex(h) => conformance::hex_decode(h),
            Body::Generated { name, n } => {
                define::generated(name, *n).unwrap_or_else(|| panic!("unknown hostile body generator {name:?}"))
            }
        }
    }
}

/// How the body's length is conveyed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// A truthful Content-Length.
    #[default]
    Length,
    /// Transfer-Encoding: chunked, no Content-Length.
    Chunked,
    /// Neither header (for bodiless requests, or headers given by hand).
    None,
    /// A Content-Length that lies: this many bytes announced, the body sent as it is.
    Announce(u64),
}

impl Framing {
    pub fn is_length(&self) -> bool {
        matches!(self, Framing::Length)
    }
}

/// One allowed outcome: a status, any 4xx, or the server closing without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Allowed {
    Status(u16),
    Class(Class),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Class {
    #[serde(rename = "4xx")]
    Any4xx,
    #[serde(rename = "closed")]
    Closed,
}

/// "Any 4xx or a closed connection": the answer to what the contract does not cover.
pub const UNCOVERED: &[Allowed] = &[Allowed::Class(Class::Any4xx), Allowed::Class(Class::Closed)];

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allowed::Status(s) => write!(f, "{s}"),
            Allowed::Class(Class::Any4xx) => f.write_str("4xx"),
            Allowed::Class(Class::Closed) => f.write_str("closed"),
        }
    }
}

/// What came back on the connection.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Final answers in order (interim 1xx answers are left out), as far as they arrived.
    pub answers: Vec<conformance::Observed>,
    /// The server closed the connection before every expected answer arrived.
    pub closed: bool,
    /// Something other than a clean answer or close: a timeout, an unparseable answer.
    pub trouble: Option<String>,
}

impl HostileCase {
    /// How many final answers the case waits for.
    pub fn answers_expected(&self) -> usize {
        1 + self.then.len()
    }

    /// The request as a conformance case, when it is an ordinary one (HTTP/1.1, truthful
    /// framing, built from fields): the in-process reference can then answer it.
    pub fn as_conformance(&self) -> Option<conformance::Case> {
        let ordinary = self.raw.is_none()
            && !self.path.contains(['?', '%'])
            && self.version == "HTTP/1.1"
            && matches!(self.framing, Framing::Length | Framing::Chunked)
            && self.close_write_after_ms.is_none()
            && self.then.is_empty()
            && !self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("expect"));
        if !ordinary {
            return None;
        }
        let bytes = self.body.bytes();
        let body = match String::from_utf8(bytes) {
            Ok(t) if !self.body.is_none() => conformance::Body::Text(t),
            Ok(_) => conformance::Body::None,
            Err(e) => conformance::Body::Hex(e.into_bytes().iter().map(|b| format!("{b:02x}")).collect()),
        };
        Some(conformance::Case {
            name: self.name.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            headers: self.headers.clone(),
            body,
            chunked: self.framing == Framing::Chunked,
            upstream_fault: false,
            expect: conformance::Expect::default(),
        })
    }
}

/// Parses the corpus text (JSON Lines; blank lines and `//` lines are skipped).
pub fn parse_corpus(text: &str) -> Result<Vec<HostileCase>, String> {
    conformance::parse_json_lines(text, "hostile/cases.jsonl")
}

/// How much a server's RSS may grow over the corpus.
pub const RSS_GROWTH_LIMIT: u64 = 64 << 20;

/// Lines of a server's log that mention a panic (case-insensitive), each cut to 300
/// characters: after the corpus there must be none.
pub fn panic_lines(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.to_ascii_lowercase().contains("panic")).map(|l| l.chars().take(300).collect()).collect()
}

/// The committed corpus.
pub fn corpus() -> Vec<HostileCase> {
    parse_corpus(CORPUS_JSONL).expect("the committed hostile corpus parses")
}

/// Whether `status` (or a close, when `status` is None) is one of `allowed`.
pub fn allows(allowed: &[Allowed], status: Option<u16>) -> bool {
    allowed.iter().any(|a| match (a, status) {
        (Allowed::Status(s), Some(got)) => *s == got,
        (Allowed::Class(Class::Any4xx), Some(got)) => (400..500).contains(&got),
        (Allowed::Class(Class::Closed), None) => true,
        _ => false,
    })
}

fn list(allowed: &[Allowed]) -> String {
    allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
}

/// Judges one exchange. Returns every mismatch, not just the first.
pub fn check(case: &HostileCase, got: &Exchange) -> Result<(), Vec<String>> {
    let mut bad = Vec::new();
    for (i, a) in got.answers.iter().enumerate() {
        if a.status >= 500 {
            let snippet = String::from_utf8_lossy(&a.body[..a.body.len().min(200)]).into_owned();
            bad.push(format!("answer {} is a {} (never allowed): {snippet:?}", i + 1, a.status));
        }
    }
    let wants = std::iter::once(&case.expect).chain(&case.then);
    for (i, allowed) in wants.enumerate() {
        let status = got.answers.get(i).map(|a| a.status);
        if status.is_none() && !got.closed {
            bad.push(format!(
                "answer {}: none ({}; expected {})",
                i + 1,
                got.trouble.as_deref().unwrap_or("no answer"),
                list(allowed)
            ));
            break;
        }
        if !allows(allowed, status) {
            let what = status.map_or("the connection closed".to_owned(), |s| format!("status {s}"));
            bad.push(format!("answer {}: {what} (expected {})", i + 1, list(allowed)));
        }
        if status.is_none() {
            break;
        }
    }
    // A 400 or 422 to a JSON body must also carry the contract's error body. (A 400 for
    // broken HTTP comes from the framework's parser; the contract fixes no body for it.)
    let json_body = case.raw.is_none() && case.method == "POST" && !case.body.is_none();
    if let Some(first) = got.answers.first()
        && json_body
        && matches!(first.status, 400 | 422)
        && case.expect.contains(&Allowed::Status(first.status))
    {
        let exp = conformance::Expect { status: first.status, loc: case.loc.clone(), ..Default::default() };
        let as_case = conformance::Case {
            name: case.name.clone(),
            method: case.method.clone(),
            path: case.path.clone(),
            headers: Vec::new(),
            body: conformance::Body::None,
            chunked: false,
            upstream_fault: false,
            expect: exp,
        };
        if let Err(why) = conformance::check(&as_case, first) {
            bad.extend(why);
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

/// The outcome of a hostile corpus run: the conformance report's passed and failed lists
/// (reached through `Deref`), plus what only hostile input can show.
#[derive(Debug, Default, Clone)]
pub struct HostileReport {
    pub cases: conformance::CorpusReport,
    /// Answers with a 5xx status, over all cases.
    pub server_errors: usize,
    /// Cases whose connection could not even be opened (the server is gone).
    pub refused: usize,
}

impl HostileReport {
    pub fn record(&mut self, case: &HostileCase, got: &Exchange) {
        self.server_errors += got.answers.iter().filter(|a| a.status >= 500).count();
        self.cases.record_named(&case.name, check(case, got));
    }
}

impl std::ops::Deref for HostileReport {
    type Target = conformance::CorpusReport;
    fn deref(&self) -> &Self::Target {
        &self.cases
    }
}

impl std::ops::DerefMut for HostileReport {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_lines_are_found_case_insensitively() {
        let log = "warn: slow\nthread 'tokio-runtime-worker' panicked at src/x.rs:1:1\nPANIC!\nfine";
        assert_eq!(panic_lines(log).len(), 2);
        assert!(panic_lines("all good").is_empty());
    }

    #[test]
    fn committed_corpus_matches_generator() {
        let generated = parse_corpus(&define::render_corpus()).unwrap();
        assert_eq!(
            generated,
            corpus(),
            "workloads/hostile/cases.jsonl is stale: run `cargo run -p workloads --bin gen-hostile`"
        );
    }

    #[test]
    fn corpus_is_large_with_unique_names_and_covers_each_family() {
        let cases = corpus();
        assert!(cases.len() >= 200, "only {} cases", cases.len());
        let names: std::collections::BTreeSet<_> = cases.iter().map(|c| &c.name).collect();
        assert_eq!(names.len(), cases.len(), "case names must be unique");
        for family in ["json/truncated/", "json/", "number/", "structure/", "type/", "null/", "limit/", "content-type/"]
        {
            assert!(cases.iter().any(|c| c.name.starts_with(family)), "no {family} case");
        }
        for family in ["http/method/", "http/path/", "http/header/", "http/version/", "http/expect/", "http/pipeline/"]
        {
            assert!(cases.iter().any(|c| c.name.starts_with(family)), "no {family} case");
        }
        assert!(cases.iter().all(|c| !c.expect.is_empty() && c.then.iter().all(|t| !t.is_empty())));
    }

    /// Every ordinary case, answered in-process by the shared rules, gets an allowed status:
    /// the corpus agrees with the contract's code, not only with the servers.
    #[test]
    fn reference_answers_are_allowed() {
        let mut checked = 0;
        let mut wrong = Vec::new();
        for case in corpus() {
            let Some(c) = case.as_conformance() else { continue };
            let got = conformance::reference::answer(&c);
            let ex = Exchange { answers: vec![got], closed: false, trouble: None };
            if let Err(why) = check(&case, &ex) {
                wrong.push(format!("{}: {why:?}", case.name));
            }
            checked += 1;
        }
        assert!(wrong.is_empty(), "reference answers not allowed:\n{}", wrong.join("\n"));
        assert!(checked >= 150, "only {checked} cases are ordinary requests");
    }

    #[test]
    fn five_hundreds_always_fail() {
        let case = corpus().into_iter().next().unwrap();
        let answer = |status| conformance::Observed { status, ..Default::default() };
        let ex = Exchange { answers: vec![answer(500)], ..Default::default() };
        assert!(check(&case, &ex).is_err());
        let closed = Exchange { answers: vec![], closed: true, trouble: None };
        assert_eq!(check(&case, &closed).is_ok(), case.expect.contains(&Allowed::Class(Class::Closed)));
    }

    #[test]
    fn allowed_outcomes_round_trip_as_numbers_and_words() {
        let v: Vec<Allowed> = serde_json::from_str(r#"[413,"4xx","closed"]"#).unwrap();
        assert_eq!(v, [Allowed::Status(413), Allowed::Class(Class::Any4xx), Allowed::Class(Class::Closed)]);
        assert!(allows(&v, Some(431)) && allows(&v, None) && !allows(&v, Some(200)) && !allows(&v, Some(503)));
    }
}
