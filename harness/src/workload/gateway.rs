//! The `chat` workload's gateway part: what a target serving `/v1/chat/completions` in
//! front of its mock upstream (`crate::upstream`) must show beyond the corpus
//! (docs/contract.md, "`POST /v1/chat/completions`"): the words it re-streams are the
//! mock's own for that request, under its own id; it sends the upstream exactly one request
//! per caller request and none for an invalid one; and a caller that goes away gets its
//! upstream stream cancelled within 2 × ITL + 1 s.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use workloads::conformance::http::Target;
use workloads::conformance::{Body, Case, GATEWAY_MOCK_ITL_MS, GATEWAY_PATH, MOCK_ID_PREFIX};

use crate::results::Failure;
use crate::upstream::Upstream;

/// Requests of the content check (each streamed and asked for whole, through the target
/// and straight from the mock), and callers of the disconnect check.
pub const CONTENT_REQUESTS: u64 = 4;
pub const DROPPED_CALLERS: u64 = 4;
/// The checks a verification adds: each content request streamed and whole, the count of
/// upstream requests, the disconnect check and the corpus's own count.
pub const CHECKS: usize = 2 * CONTENT_REQUESTS as usize + 3;

/// How long a gateway may take to cancel a dropped caller's upstream stream.
pub fn cancel_bound() -> Duration {
    Duration::from_millis(2 * GATEWAY_MOCK_ITL_MS) + Duration::from_secs(1)
}

/// What the checks found: the failures, and a line saying what passed.
#[derive(Debug, Default)]
pub struct Checked {
    pub failures: Vec<Failure>,
    /// How long the slowest cancellation took to show at the mock.
    pub cancelled_within: Option<Duration>,
}

fn request(i: u64, stream: bool) -> Value {
    json!({
        "model": "mock-llm",
        "messages": [
            {"role": "system", "content": "You are a gateway check."},
            {"role": "user", "content": format!("Request {i}: say something in {} words.", 6 + i)},
        ],
        "stream": stream,
        "max_tokens": 6 + i,
    })
}

/// A stream's text, its chunks' ids and whether it ended with `[DONE]`.
fn read_stream(body: &[u8]) -> (String, Vec<String>, bool) {
    let (mut text, mut ids, mut done) = (String::new(), Vec::new(), false);
    for ev in workloads::sse::parse_all(body) {
        if ev.data.trim() == "[DONE]" {
            done = true;
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else { continue };
        if let Some(id) = v["id"].as_str() {
            ids.push(id.to_owned());
        }
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
    }
    (text, ids, done)
}

async fn post(target: &Target, name: &str, body: Value) -> Result<workloads::conformance::Observed, String> {
    let case = Case::new(name, "POST", GATEWAY_PATH, Body::Json(body));
    workloads::conformance::http::send(target, &case).await.map_err(|e| e.to_string())
}

/// The content and one-request checks: [`CONTENT_REQUESTS`] streams and as many whole
/// answers, each through the gateway and straight from its upstream, compared.
async fn content(gateway: &Target, upstream: &Upstream) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut fail = |case: String, why: String| failures.push(Failure { case, reasons: vec![why] });
    let direct = match Target::parse(&upstream.url()) {
        Ok(t) => t,
        Err(e) => return vec![Failure { case: "gateway/upstream".into(), reasons: vec![e.to_string()] }],
    };
    let before = upstream.stats();
    for i in 0..CONTENT_REQUESTS {
        for stream in [true, false] {
            let name = format!("gateway/content-{}-{i}", if stream { "stream" } else { "completion" });
            let (via, straight) =
                (post(gateway, &name, request(i, stream)).await, post(&direct, &name, request(i, stream)).await);
            let (via, straight) = match (via, straight) {
                (Ok(a), Ok(b)) if a.status == 200 && b.status == 200 => (a, b),
                (Ok(a), Ok(b)) => {
                    fail(name, format!("status {} through the gateway, {} from the mock", a.status, b.status));
                    continue;
                }
                (Err(e), _) | (_, Err(e)) => {
                    fail(name, e);
                    continue;
                }
            };
            if stream {
                let ((text, ids, done), (want, mock_ids, _)) = (read_stream(&via.body), read_stream(&straight.body));
                if text != want {
                    fail(name.clone(), format!("re-streamed text {text:?}, the mock's {want:?}"));
                }
                if !done {
                    fail(name.clone(), "no [DONE]".into());
                }
                let own: std::collections::BTreeSet<&String> = ids.iter().collect();
                if own.len() != 1 || own.iter().any(|id| id.starts_with(MOCK_ID_PREFIX) || mock_ids.contains(id)) {
                    fail(name, format!("ids {own:?}: expected one id of the gateway's own for the whole stream"));
                }
            } else {
                let text = |o: &workloads::conformance::Observed| {
                    serde_json::from_slice::<Value>(&o.body)
                        .ok()
                        .and_then(|v| v["choices"][0]["message"]["content"].as_str().map(str::to_owned))
                };
                if text(&via) != text(&straight) || text(&via).is_none() {
                    fail(name, format!("answer {:?}, the mock's {:?}", text(&via), text(&straight)));
                }
            }
        }
    }
    let sent = upstream.stats().requests - before.requests;
    // Each pair is one caller request through the gateway and one straight to the mock.
    let want = 2 * 2 * CONTENT_REQUESTS;
    if sent != want {
        fail(
            "gateway/one-upstream-request-each".into(),
            format!("the mock received {sent} requests for {} caller requests and as many direct ones", want / 2),
        );
    }
    failures
}

/// Opens [`DROPPED_CALLERS`] long streams, reads each to its first content chunk, drops
/// them all, and waits for the mock to count them cancelled.
async fn disconnects(gateway: &Target, upstream: &Upstream) -> (Vec<Failure>, Option<Duration>) {
    let fail =
        |why: String| (vec![Failure { case: "gateway/disconnect-cancels-upstream".into(), reasons: vec![why] }], None);
    let before = upstream.stats();
    let body = serde_json::to_vec(&json!({
        "model": "mock-llm",
        "messages": [{"role": "user", "content": "A long answer, please."}],
        "stream": true,
        "max_tokens": 2000,
    }))
    .expect("JSON encodes");
    let head = format!(
        "POST {GATEWAY_PATH} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        gateway.authority(),
        body.len()
    );
    let mut callers = Vec::new();
    for _ in 0..DROPPED_CALLERS {
        let opened = async {
            let mut s = tokio::net::TcpStream::connect(gateway.authority()).await?;
            s.write_all(head.as_bytes()).await?;
            s.write_all(&body).await?;
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Until a chunk carrying content has arrived: the upstream stream is under way.
            while !String::from_utf8_lossy(&seen).contains("\"content\":\"")
                || seen.windows(4).filter(|w| w == b"data").count() < 2
            {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Err(std::io::Error::other("the gateway closed the stream before its first token"));
                }
                seen.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(s)
        };
        match tokio::time::timeout(Duration::from_secs(10), opened).await {
            Ok(Ok(s)) => callers.push(s),
            Ok(Err(e)) => return fail(format!("could not open a stream: {e}")),
            Err(_) => return fail("no first token within 10 s".into()),
        }
    }
    let open_before_drop = upstream.stats().streams_open.saturating_sub(before.streams_open);
    drop(callers);
    let dropped = Instant::now();
    let deadline = dropped + cancel_bound();
    loop {
        let now = upstream.stats();
        let cancelled = now.streams_cancelled - before.streams_cancelled;
        if cancelled >= DROPPED_CALLERS && now.streams_open == before.streams_open {
            let requests = now.requests - before.requests;
            if requests != DROPPED_CALLERS {
                return fail(format!("{requests} upstream requests for {DROPPED_CALLERS} callers"));
            }
            return (Vec::new(), Some(dropped.elapsed()));
        }
        if Instant::now() >= deadline {
            return fail(format!(
                "{DROPPED_CALLERS} callers dropped ({open_before_drop} upstream streams open then): {cancelled} upstream \
                 streams cancelled and {} still open after {:?} (2 x ITL + 1 s)",
                now.streams_open.saturating_sub(before.streams_open),
                cancel_bound()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every gateway check on the target at `base_url`, whose upstream is `upstream`.
pub async fn verify(base_url: &str, upstream: &Upstream) -> anyhow::Result<Checked> {
    let gateway = Target::parse(base_url)?;
    let mut failures = content(&gateway, upstream).await;
    let (dropped, within) = disconnects(&gateway, upstream).await;
    failures.extend(dropped);
    Ok(Checked { failures, cancelled_within: within })
}

/// The corpus's own count: the upstream requests it caused against the cases that reach it.
pub fn forwarded_check(cases: &[Case], sent: u64) -> Option<Failure> {
    let want = cases.iter().filter(|c| c.reaches_upstream()).count() as u64;
    (sent != want).then(|| Failure {
        case: "gateway/corpus-forwards-each-valid-request-once".into(),
        reasons: vec![format!(
            "the mock received {sent} requests during the corpus; its {want} valid gateway cases should send one each \
             and its invalid ones none"
        )],
    })
}

/// The contract's verification of the target at `base_url`: the conformance corpus, and
/// for a target whose `upstream` we run, the corpus's forwarding count and every gateway
/// check. `judge_faults` false (a `--url` target) leaves the upstream-fault cases out,
/// recorded as not judged.
pub async fn verify_contract(
    base_url: &str,
    upstream: Option<&Upstream>,
    judge_faults: bool,
) -> anyhow::Result<crate::results::Verification> {
    let (cases, not_judged): (Vec<Case>, Vec<Case>) =
        workloads::conformance::corpus().into_iter().partition(|c| judge_faults || !c.upstream_fault);
    let before = upstream.map(|u| u.stats().requests);
    let report = workloads::conformance::http::run_corpus(base_url, &cases).await?;
    let mut v = crate::results::Verification::of(&report, cases.len());
    v.not_judged = not_judged.into_iter().map(|c| c.name).collect();
    if let (Some(up), Some(before)) = (upstream, before) {
        v.failures.extend(forwarded_check(&cases, up.stats().requests - before));
        let checked = verify(base_url, up).await?;
        v.cases += CHECKS;
        v.failures.extend(checked.failures);
        v.gateway_cancel_ms = checked.cancelled_within.map(|d| d.as_secs_f64() * 1e3);
        v.passed = v.failures.is_empty();
    }
    Ok(v)
}
