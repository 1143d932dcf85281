//! The cross-check of the chat definitions: streams recorded from the mock model server
//! (role chunk on and off, usage on and off, 2-token chunks, a scheduled time before the
//! send) are read by the harness's rules (`harness::openai`) and by
//! `scripts/openai_metrics.py`, written apart from them in the standard library alone. Under
//! our rules the two agree exactly; under `--vllm-rules` the script's figures differ from ours
//! by exactly the documented differences (docs/metrics.md, "How our figures relate to other
//! LLM benchmark tools"), and its TTFT is the harness's vLLM-rule TTFT.

use std::time::Duration;

use serde_json::{Value, json};
use workloads::conformance::{Body, Case};

/// One recorded stream: its SSE data events with their arrival (µs after the send).
struct Recorded {
    events: Vec<(u64, String)>,
    /// The scheduled time's lead over the send (the open loop's wait), µs.
    lead_us: u64,
}

fn record(base_url: &str, lead_us: u64, i: usize) -> Recorded {
    let body = json!({
        "model": "mock-llm",
        "messages": [{"role": "user", "content": format!("prompt {i}")}],
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": 9,
    });
    let target = workloads::conformance::http::Target::parse(base_url).unwrap();
    let case = Case::new("record", "POST", "/v1/chat/completions", Body::Json(body));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(workloads::conformance::http::send(&target, &case)).unwrap();
    assert_eq!(got.status, 200);
    // Each event is stamped with the arrival of the chunk that completed it, as the driver does.
    let (mut parser, mut events, mut from) = (workloads::sse::SseParser::new(), Vec::new(), 0);
    for &(at, end) in &got.chunks {
        let mut out = Vec::new();
        parser.feed(&got.body[from..end], &mut out);
        events.extend(out.into_iter().map(|e| (at.as_micros() as u64, e.data)));
        from = end;
    }
    Recorded { events, lead_us }
}

fn ours(r: &Recorded) -> (harness::openai::ChatStream, harness::openai::Figures) {
    let mut s = harness::openai::ChatStream::default();
    for (t, data) in &r.events {
        s.event(Duration::from_micros(*t), data);
    }
    let f = s.figures(Duration::from_micros(r.lead_us));
    (s, f)
}

fn script(streams: &[Recorded], vllm: bool) -> Vec<Value> {
    // The send is at 1,000,000 µs on the script's clock, the scheduled time `lead` before it.
    let lines: Vec<String> = streams
        .iter()
        .map(|r| {
            let events: Vec<Value> = r.events.iter().map(|(t, d)| json!({"t_us": 1_000_000 + t, "data": d})).collect();
            json!({"start_us": 1_000_000 - r.lead_us, "sent_us": 1_000_000, "events": events, "body_complete": true})
                .to_string()
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("mlapi-openai-metrics-{}-{vllm}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("streams.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let script = harness::cli::workspace_root().join("scripts/openai_metrics.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).arg(&file);
    if vllm {
        cmd.arg("--vllm-rules");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn us(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_micros() as u64))
}

#[test]
fn the_script_and_the_harness_agree_and_vllms_rules_differ_as_documented() {
    let mut checked = 0;
    for (role_chunk, usage, two_token_every) in [
        (true, true, None),
        (false, true, None),
        (true, false, Some(4)),
        (false, false, Some(2)),
        (true, true, Some(3)),
    ] {
        let mock = mock_llm::spawn_on_thread(mock_llm::Config {
            ttft: Duration::from_millis(8),
            itl: Duration::from_millis(2),
            role_chunk,
            two_token_every,
            usage: if usage { mock_llm::UsageMode::Request } else { mock_llm::UsageMode::Never },
            ..mock_llm::Config::default()
        });
        let url = format!("http://{}", mock.addr);
        let streams: Vec<Recorded> = (0..4).map(|i| record(&url, [0, 5_000][i % 2], i)).collect();
        let (plain, vllm) = (script(&streams, false), script(&streams, true));
        for (i, r) in streams.iter().enumerate() {
            let label = format!("role {role_chunk}, usage {usage}, 2-token every {two_token_every:?}, stream {i}");
            let (s, f) = ours(r);
            assert!(f.complete, "{label}: {:?}", s.broken());
            let itl: Vec<u64> = s.itl().map(|d| d.as_micros() as u64).collect();
            // Our rules: the same figures, to the µs.
            let p = &plain[i];
            assert_eq!(p["ttft_us"], us(f.ttft), "{label}");
            assert_eq!(p["e2el_us"], us(f.e2el), "{label}");
            assert_eq!(p["itl_us"], json!(itl), "{label}");
            assert_eq!(p["output_tokens"], json!(f.output_tokens), "{label}");
            assert_eq!(p["token_source"], if f.tokens_from_usage { "usage" } else { "chunks" }, "{label}");
            assert_eq!(p["output_chunks"], json!(s.output_at.len()), "{label}");
            assert_eq!(p["complete"], json!(true), "{label}");
            let tpot = f.tpot.map(|d| d.as_secs_f64() * 1e6).unwrap();
            assert!((p["tpot_us"].as_f64().unwrap() - tpot).abs() < 1.0, "{label}: TPOT {} vs {tpot}", p["tpot_us"]);
            assert_eq!(f.tokens_from_usage, usage, "{label}");
            // vLLM's rules: its TTFT is ours by vLLM's rule (the harness records it) ...
            let v = &vllm[i];
            assert_eq!(v["ttft_us"], us(f.ttft_vllm), "{label}");
            // ... and differs from ours by the scheduled time's lead and, with a role chunk,
            // the wait from the role chunk to the first output.
            let first_choices = s.first_choices.unwrap().as_micros() as u64;
            let first_output = s.output_at[0].as_micros() as u64;
            assert_eq!(
                f.ttft.unwrap().as_micros() as u64 - v["ttft_us"].as_u64().unwrap(),
                r.lead_us + (first_output - first_choices),
                "{label}"
            );
            if role_chunk {
                assert!(first_choices < first_output, "{label}: the role chunk comes first");
            } else {
                assert_eq!(first_choices, first_output, "{label}");
            }
            // Its ITL has one gap per chunk with choices after the first: ours, plus the role
            // chunk's gap and the finish chunk's; its E2EL ends at the finish chunk, from the send.
            let vllm_gaps = v["itl_us"].as_array().unwrap().len();
            assert_eq!(vllm_gaps, itl.len() + usize::from(role_chunk) + 1, "{label}");
            let finish = r
                .events
                .iter()
                .filter(|(_, d)| matches!(harness::openai::classify(d), harness::openai::Chunk::Choices { .. }))
                .map(|(t, _)| *t)
                .last()
                .unwrap();
            assert_eq!(v["e2el_us"], json!(finish), "{label}: vLLM's E2EL ends at the finish chunk");
            // The token counts agree where the server sent usage; without it vLLM's count is
            // the chunks with content, as ours is the output chunks.
            assert_eq!(v["output_tokens"], p["output_tokens"], "{label}");
            checked += 1;
        }
        mock.stop().unwrap();
    }
    assert_eq!(checked, 20);
}

/// The script's own cases pass (role chunk, usage, 2-token chunks, error event, missing
/// [DONE], reasoning).
#[test]
fn the_scripts_self_test_passes() {
    let script = harness::cli::workspace_root().join("scripts/openai_metrics.py");
    let out = std::process::Command::new("python3").arg(script).arg("--self-test").output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok", "{out:?}");
}
