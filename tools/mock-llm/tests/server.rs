//! The mock on a real listener at port 0, checked byte for byte and against the clock:
//! the harness's chat tests take its schedule as ground truth, so it is tested as such.

mod common;

use std::time::Duration;

use common::{chat_body, connect_and_send, output_chunks, request, request_raw, wait_for};
use mock_llm::{Config, Fault, UsageMode, spawn_on_thread};
use tokio::io::AsyncReadExt;

const CHAT: &str = "/v1/chat/completions";

fn fast() -> Config {
    Config { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..Config::default() }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::test]
async fn stream_follows_the_schedule() {
    let config = Config {
        ttft: Duration::from_millis(30),
        itl: Duration::from_millis(5),
        two_token_every: Some(4),
        usage: UsageMode::Request,
        ..Config::default()
    };
    let server = spawn_on_thread(config);
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(8, true, true))).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert!(reply.complete);

    let role = reply.events[0].json().unwrap();
    assert_eq!(role["choices"][0]["delta"], serde_json::json!({"role": "assistant", "content": ""}));
    assert!(ms(reply.events[0].at) < 10.0, "role chunk at {:?}", reply.events[0].at);

    let outputs = output_chunks(&reply.events);
    let words: Vec<usize> = outputs.iter().map(|(_, text)| text.split_whitespace().count()).collect();
    assert_eq!(words, [1, 1, 1, 2, 1, 1, 1]);
    let due = |k: usize| 30.0 + 5.0 * k as f64;
    let since_send: Vec<f64> = outputs.iter().enumerate().map(|(k, (at, _))| ms(*at) - due(k)).collect();
    // The client's clock starts before the server's t0, so nothing can be early.
    assert!(since_send.iter().all(|&l| l >= 0.0), "a chunk came early: {since_send:?}");
    assert!(median(since_send.clone()) <= 10.0, "chunks late: {since_send:?}");
    // The role chunk leaves at t0, so it is the client's best view of t0: measured from it,
    // a busy machine's late accept drops out and what is left is the schedule itself.
    let role_at = ms(reply.events[0].at);
    let since_role: Vec<f64> = outputs.iter().enumerate().map(|(k, (at, _))| ms(*at) - role_at - due(k)).collect();
    assert!((-1.0..=3.0).contains(&median(since_role.clone())), "off schedule: {since_role:?}");
    assert!(since_role.iter().all(|&l| (-3.0..=20.0).contains(&l)), "an outlier: {since_role:?}");

    // After the last output chunk: finish, usage, [DONE], in one go.
    let n = reply.events.len();
    let tail = &reply.events[n - 3..];
    let finish = tail[0].json().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(finish["choices"][0]["delta"], serde_json::json!({}));
    let usage = tail[1].json().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"], serde_json::json!({"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}));
    assert_eq!(tail[2].text, "data: [DONE]");
    assert_eq!(n, 1 + 7 + 3);
    assert!(tail.iter().all(|e| e.at == outputs[6].0));

    for event in &reply.events[..n - 1] {
        let v = event.json().unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], "test-model");
        assert_eq!(v["id"], role["id"]);
    }
    let stats = server.stats.snapshot();
    assert!(wait_for(Duration::from_millis(200), || server.stats.snapshot().streams_completed == 1).await);
    assert_eq!((stats.requests, stats.chunks_sent), (1, 7));
    assert_eq!(server.stats.snapshot().streams_open, 0);
}

async fn has_usage_chunk(usage: UsageMode, include_usage: bool) -> bool {
    let server = spawn_on_thread(Config { usage, ..fast() });
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(3, true, include_usage))).await.unwrap();
    assert_eq!(reply.events.last().unwrap().text, "data: [DONE]");
    reply.events.iter().filter_map(|e| e.json()).any(|v| v.get("usage").is_some())
}

#[tokio::test]
async fn usage_chunk_follows_the_mode() {
    assert!(!has_usage_chunk(UsageMode::Never, true).await);
    assert!(!has_usage_chunk(UsageMode::Request, false).await);
    assert!(has_usage_chunk(UsageMode::Request, true).await);
    assert!(has_usage_chunk(UsageMode::Always, false).await);
}

#[tokio::test]
async fn extras_reasoning_and_pings_land_where_configured() {
    let config = Config {
        role_chunk: false,
        empty_every: Some(2),
        ping_every: Some(3),
        reasoning_chunks: 2,
        usage: UsageMode::Never,
        ..fast()
    };
    let server = spawn_on_thread(config);
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(6, true, false))).await.unwrap();
    let kinds: Vec<String> = reply
        .events
        .iter()
        .map(|e| match e.json() {
            None => e.text.clone(),
            Some(v) => {
                let delta = &v["choices"][0]["delta"];
                if delta.get("reasoning_content").is_some() {
                    "R".to_owned()
                } else if delta == &serde_json::json!({"content": ""}) {
                    "E".to_owned()
                } else if delta.get("content").is_some() {
                    "C".to_owned()
                } else {
                    "F".to_owned()
                }
            }
        })
        .collect();
    assert_eq!(kinds, ["R", "R", "E", "C", ": ping", "C", "E", "C", "C", "E", ": ping", "F", "data: [DONE]"]);
    assert!(wait_for(Duration::from_millis(200), || server.stats.snapshot().streams_completed == 1).await);
    assert_eq!(server.stats.snapshot().chunks_sent, 6 + 3);
}

#[tokio::test]
async fn non_streaming_answer_arrives_when_the_last_chunk_would() {
    let config = Config { ttft: Duration::from_millis(30), itl: Duration::from_millis(5), ..Config::default() };
    let server = spawn_on_thread(config);
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(8, false, false))).await.unwrap();
    assert_eq!(reply.status, 200);
    let at = ms(reply.done_at);
    assert!((65.0..85.0).contains(&at), "answer at {at} ms, due at 65");
    let v = reply.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "test-model");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["message"]["content"].as_str().unwrap().split_whitespace().count(), 8);
    assert_eq!(v["usage"], serde_json::json!({"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}));
    assert_eq!(server.stats.snapshot().completions, 1);
}

async fn content(seed: u64) -> (String, String) {
    let server = spawn_on_thread(Config { seed, ..fast() });
    let streamed = request(server.addr, "POST", CHAT, Some(&chat_body(24, true, false))).await.unwrap();
    let streamed: String = output_chunks(&streamed.events).into_iter().map(|(_, t)| t).collect();
    let whole = request(server.addr, "POST", CHAT, Some(&chat_body(24, false, false))).await.unwrap();
    (streamed, whole.json()["choices"][0]["message"]["content"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn content_is_deterministic_per_seed() {
    let (a_stream, a_whole) = content(1).await;
    assert_eq!(a_stream, a_whole, "streamed and non-streamed words agree");
    assert_eq!(content(1).await.0, a_stream);
    assert_ne!(content(2).await.0, a_stream);
}

#[tokio::test]
async fn max_tokens_defaults_and_aliases() {
    let server = spawn_on_thread(Config { default_max_tokens: 5, ..fast() });
    let words = |body: &str| {
        let body = body.to_owned();
        async move {
            let v = request(server.addr, "POST", CHAT, Some(&body)).await.unwrap().json();
            v["usage"]["completion_tokens"].as_u64().unwrap()
        }
    };
    let msgs = r#""messages":[{"role":"user","content":"hi"}]"#;
    assert_eq!(words(&format!("{{{msgs}}}")).await, 5);
    assert_eq!(words(&format!(r#"{{{msgs},"max_tokens":3}}"#)).await, 3);
    assert_eq!(words(&format!(r#"{{{msgs},"max_tokens":3,"max_completion_tokens":7}}"#)).await, 7);
}

#[tokio::test]
async fn client_disconnect_cancels_the_stream() {
    let server = spawn_on_thread(Config {
        ttft: Duration::from_millis(30),
        itl: Duration::from_millis(10),
        ..Config::default()
    });
    let mut stream = connect_and_send(server.addr, "POST", CHAT, Some(&chat_body(50, true, false))).await;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(server.stats.snapshot().streams_open, 1);
    drop(stream);
    let cancelled = wait_for(Duration::from_millis(60), || {
        let s = server.stats.snapshot();
        s.streams_cancelled == 1 && s.streams_open == 0
    })
    .await;
    assert!(cancelled, "stats after disconnect: {:?}", server.stats.snapshot());
    assert_eq!(server.stats.snapshot().streams_completed, 0);
}

#[tokio::test]
async fn fault_refuse_closes_without_answering() {
    let server = spawn_on_thread(Config { fault: Some(Fault::Refuse), ..fast() });
    assert!(request(server.addr, "POST", CHAT, Some(&chat_body(3, true, false))).await.is_none());
    // Other routes are not faulted.
    assert_eq!(request(server.addr, "GET", "/health", None).await.unwrap().status, 200);
}

#[tokio::test]
async fn fault_500_answers_an_error() {
    let server = spawn_on_thread(Config { fault: Some(Fault::Status500), ..fast() });
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(3, true, false))).await.unwrap();
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": {"message": "mock fault", "type": "server_error", "code": 500}})
    );
}

#[tokio::test]
async fn fault_cut_ends_the_body_unframed() {
    let server = spawn_on_thread(Config { fault: Some(Fault::Cut { after: 2 }), ..fast() });
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(8, true, true))).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(!reply.complete, "a cut stream must not end with the terminating chunk");
    assert_eq!(output_chunks(&reply.events).len(), 2);
    assert_eq!(reply.events.len(), 3, "role + 2 outputs: {:?}", reply.events);
    assert!(wait_for(Duration::from_millis(200), || server.stats.snapshot().streams_open == 0).await);
}

#[tokio::test]
async fn fault_error_event_ends_without_done() {
    let server = spawn_on_thread(Config { fault: Some(Fault::ErrorEvent { after: 2 }), ..fast() });
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(8, true, true))).await.unwrap();
    assert!(reply.complete);
    assert_eq!(output_chunks(&reply.events).len(), 2);
    let last = reply.events.last().unwrap();
    assert_eq!(last.json().unwrap(), serde_json::json!({"error": {"message": "mock error", "type": "server_error"}}));
    assert!(reply.events.iter().all(|e| e.text != "data: [DONE]"));
}

#[tokio::test]
async fn fault_non_sse_answers_plain_json() {
    let server = spawn_on_thread(Config { fault: Some(Fault::NonSse), ..fast() });
    let reply = request(server.addr, "POST", CHAT, Some(&chat_body(3, true, false))).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), serde_json::json!({"not": "sse"}));
}

#[tokio::test]
async fn fault_every_second_request() {
    let server = spawn_on_thread(Config { fault: Some(Fault::Status500), fault_every: 2, ..fast() });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(request(server.addr, "POST", CHAT, Some(&chat_body(2, false, false))).await.unwrap().status);
    }
    assert_eq!(statuses, [200, 500, 200, 500]);
}

#[tokio::test]
async fn side_routes_answer() {
    let server = spawn_on_thread(Config { model: "m-1".to_owned(), ..fast() });
    let models = request(server.addr, "GET", "/v1/models", None).await.unwrap();
    assert_eq!(
        models.json(),
        serde_json::json!({"object": "list", "data": [{"id": "m-1", "object": "model", "created": 0, "owned_by": "mock-llm"}]})
    );
    let health = request(server.addr, "GET", "/health", None).await.unwrap();
    assert_eq!((health.status, health.json()), (200, serde_json::json!({"status": "ok"})));
    let body = r#"{"messages":[{"role":"user","content":"a b"}],"max_tokens":3,"stream":true}"#;
    let chunk = request(server.addr, "POST", CHAT, Some(body)).await.unwrap();
    assert_eq!(output_chunks(&chunk.events).len(), 3);
    assert_eq!(chunk.events[0].json().unwrap()["model"], "m-1", "the configured model when the request names none");
    let stats = request(server.addr, "GET", "/mock/stats", None).await.unwrap().json();
    assert_eq!((stats["requests"].as_u64(), stats["chunks_sent"].as_u64()), (Some(1), Some(3)));
    let missing = request(server.addr, "GET", "/nope", None).await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["type"], "invalid_request_error");
    assert_eq!(request(server.addr, "GET", CHAT, None).await.unwrap().status, 405);
}

#[tokio::test]
async fn bad_requests_are_refused_in_openai_shape() {
    let server = spawn_on_thread(fast());
    let msgs = r#""messages":[{"role":"user","content":"x"}]"#;
    for body in [
        "{not json".to_owned(),
        r#"{"model":"m"}"#.to_owned(),
        r#"{"messages":[]}"#.to_owned(),
        r#"{"messages":{"role":"user"}}"#.to_owned(),
        format!(r#"{{{msgs},"max_tokens":0}}"#),
        format!(r#"{{{msgs},"max_tokens":2.5}}"#),
        format!(r#"{{{msgs},"max_completion_tokens":-1}}"#),
    ] {
        let reply = request(server.addr, "POST", CHAT, Some(&body)).await.unwrap();
        assert_eq!(reply.status, 400, "{body}");
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert!(error["message"].is_string() && error["param"].is_null() && error["code"].is_null());
    }
    // Only the head: a client still writing a body the server refused would see a reset.
    let huge = format!("POST {CHAT} HTTP/1.1\r\nhost: mock\r\ncontent-length: {}\r\n\r\n", (1 << 20) + 1);
    assert_eq!(request_raw(server.addr, &huge).await.unwrap().status, 413);
}

#[test]
fn handle_stop_shuts_the_server_down() {
    let server = spawn_on_thread(fast());
    let addr = server.addr;
    server.stop().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err());
}
