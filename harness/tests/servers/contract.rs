//! The target contract: one suite for every target the manifests declare, Rust and Python
//! alike (docs/contract.md, "The contract suite"). Every check runs on every target, each
//! started from its manifest as `harness verify` starts it (the Rust ones from the debug
//! binaries `cargo test --workspace` builds, the Python ones from the pinned venv), and its
//! outcome is recorded. A check a target fails is a *known difference* only when
//! docs/contract.md's table "Known differences" lists it; the suite holds that table true
//! both ways: a failure not listed fails the suite, and so does a listed difference that no
//! longer occurs. Nothing is skipped.
//!
//! Needs python3 >= 3.10 with its venv module, and PyPI the first time (the venv is reused),
//! and the Rust servers as `cargo test --workspace` builds them: a server binary left by
//! `cargo test -p fw-<name>` lacks serde_json's `float_roundtrip` and fails `bytes` in five
//! cases (docs/contract.md, "The contract suite").

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::manifest::{self, Manifest};
use harness::target::{self, Running};
use nix::sys::signal::Signal;
use workloads::conformance::http::{KeepAlive, Target, send};
use workloads::conformance::{Body, Case, reference};

/// What a check found: what passed, or why it failed.
type Outcome = Result<String, String>;
type Check = fn(&Manifest) -> Outcome;

/// The checks, in the order they run on each target: a name (the table's `check` column)
/// and what it does.
const CHECKS: &[(&str, Check)] = &[
    ("corpus", corpus),
    ("gateway", gateway),
    ("bytes", byte_identity),
    ("hostile", hostile),
    ("mixed-load", mixed_load),
    ("sigterm", |m| graceful_shutdown(m, Signal::SIGTERM)),
    ("sigint", |m| graceful_shutdown(m, Signal::SIGINT)),
    ("stop", stop_leaves_nothing),
];

fn start(m: &Manifest, workers: usize) -> Result<Running, String> {
    let dir = std::env::temp_dir().join(format!("mlapi-contract-{}-{}", m.name, std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cpus = target::affinity(0);
    target::spawn(m, &common::workspace(), workers, &cpus, &cpus, &dir, target::READY_TIMEOUT)
        .map_err(|e| format!("did not start: {e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// The whole conformance corpus, judged by the checker the harness uses.
fn corpus(m: &Manifest) -> Outcome {
    let server = start(m, 2)?;
    let cases = workloads::conformance::corpus();
    let upstream = server.upstream.as_ref().ok_or("no upstream was started for the gateway")?;
    let before = upstream.stats().requests;
    let report = runtime()
        .block_on(workloads::conformance::http::run_corpus(&server.base_url, &cases))
        .map_err(|e| e.to_string())?;
    let forwarded = harness::workload::gateway::forwarded_check(&cases, upstream.stats().requests - before);
    match (report.failed.is_empty(), forwarded) {
        (true, None) => Ok(format!("{}/{} cases", report.passed.len(), cases.len())),
        (_, forwarded) => Err(format!(
            "{} of {} cases failed:\n{}{}",
            report.failed.len(),
            cases.len(),
            report.failures(),
            forwarded.map(|f| format!("\n  {}: {}", f.case, f.reasons.join("; "))).unwrap_or_default()
        )),
    }
}

/// The gateway beyond the corpus: the mock's words under the target's own id, one upstream
/// request per caller request, and every dropped caller's upstream stream cancelled within
/// 2 x ITL + 1 s (`harness::workload::gateway`).
fn gateway(m: &Manifest) -> Outcome {
    let server = start(m, 2)?;
    let upstream = server.upstream.as_ref().ok_or("no upstream was started for the gateway")?;
    let checked = runtime()
        .block_on(harness::workload::gateway::verify(&server.base_url, upstream))
        .map_err(|e| e.to_string())?;
    let cancelled = checked.cancelled_within.map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3)).unwrap_or_default();
    if checked.failures.is_empty() {
        let dropped = harness::workload::gateway::DROPPED_CALLERS;
        Ok(format!(
            "content and ids match the mock; {dropped}/{dropped} dropped callers cancelled upstream within {cancelled}"
        ))
    } else {
        let why: Vec<String> =
            checked.failures.iter().map(|f| format!("{}: {}", f.case, f.reasons.join("; "))).collect();
        Err(why.join(" | "))
    }
}

/// Every 200 body of the corpus equals the in-process reference answer byte for byte: one
/// target passing it answers exactly as every other passing target does.
fn byte_identity(m: &Manifest) -> Outcome {
    let server = start(m, 2)?;
    let target = Target::parse(&server.base_url).map_err(|e| e.to_string())?;
    // A gateway's 200 carries its own id and the upstream's words: the gateway check
    // compares those with the mock's own answer instead.
    let cases: Vec<Case> = workloads::conformance::corpus()
        .into_iter()
        .filter(|c| c.expect.status == 200 && c.expect.gateway.is_none())
        .collect();
    let differ: Vec<String> = runtime().block_on(async {
        let mut differ = Vec::new();
        for case in &cases {
            match send(&target, case).await {
                Ok(got) if got.status != 200 || got.body == reference::answer(case).body => {}
                Ok(_) => differ.push(case.name.clone()),
                Err(e) => differ.push(format!("{}: {e}", case.name)),
            }
        }
        differ
    });
    if differ.is_empty() {
        Ok(format!("{} bodies", cases.len()))
    } else {
        Err(format!("{} of {} 200 bodies differ from the reference: {}", differ.len(), cases.len(), differ.join(", ")))
    }
}

/// The hostile corpus (one worker, as `harness verify --hostile` runs it), then health
/// within 1 s, RSS growth under the bar and no panic logged: the robustness verdict.
fn hostile(m: &Manifest) -> Outcome {
    let server = start(m, 1)?;
    let opts = harness::hostile::Options { slowloris: None, disconnect: None };
    let r = harness::hostile::measure(&server.base_url, Some(server.pid), Some(&server.stderr_log), &opts)
        .map_err(|e| e.to_string())?;
    let verdict = r.verdict();
    let failing: Vec<&str> = r.failures.iter().map(|f| f.case.as_str()).collect();
    if verdict.is_empty() {
        Ok(format!("{}/{} cases", r.passed, r.cases))
    } else {
        Err(format!("{}/{} cases; {}; failing: {}", r.passed, r.cases, verdict.join("; "), failing.join(", ")))
    }
}

/// Requests in the mixed-load check, over this many keep-alive connections.
const MIXED_REQUESTS: usize = 10_000;
const MIXED_CONNECTIONS: usize = 8;

/// [`MIXED_REQUESTS`] valid and invalid requests from the corpus over keep-alive
/// connections: every answer carries its case's expected status (so never a 5xx), and the
/// server answers `/health` afterwards. Slow cases (timers, long CPU work) and generated
/// bodies are left out to keep it fast; the corpus check covers them.
fn mixed_load(m: &Manifest) -> Outcome {
    let server = start(m, 2)?;
    let cases: Vec<Case> = workloads::conformance::corpus().into_iter().filter(is_fast).collect();
    let target = Target::parse(&server.base_url).map_err(|e| e.to_string())?;
    let rt = runtime();
    let outcomes: Vec<(String, u16, Option<u16>)> = rt.block_on(async {
        let tasks: Vec<_> = (0..MIXED_CONNECTIONS)
            .map(|conn| {
                let (target, cases) = (target.clone(), cases.clone());
                tokio::spawn(async move {
                    let mut ka = KeepAlive::new(target);
                    let mut out = Vec::new();
                    for i in 0..MIXED_REQUESTS / MIXED_CONNECTIONS {
                        // A different stride per connection mixes the cases across connections.
                        let case = &cases[(i * (2 * conn + 1) + conn * 31) % cases.len()];
                        let got = ka.send(case).await.ok().map(|(status, _)| status);
                        out.push((case.name.clone(), case.expect.status, got));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("load task"));
        }
        all
    });
    let server_errors = outcomes.iter().filter(|(_, _, got)| got.is_some_and(|s| s >= 500)).count();
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, want, got)| *got != Some(*want))
        .map(|(name, want, got)| format!("{name}: {got:?}, expected {want}"))
        .collect();
    let health = workloads::conformance::corpus().into_iter().find(|c| c.name == "health/ok").expect("health case");
    let after = rt.block_on(send(&target, &health)).map(|o| o.status).map_err(|e| e.to_string());
    if server_errors == 0 && wrong.is_empty() && after == Ok(200) {
        Ok(format!("{MIXED_REQUESTS} requests"))
    } else {
        let first: Vec<&String> = wrong.iter().take(5).collect();
        Err(format!(
            "{server_errors} answers 5xx, {} not as expected (first: {first:?}); /health after: {after:?}",
            wrong.len()
        ))
    }
}

fn is_fast(case: &Case) -> bool {
    let Body::Json(v) = &case.body else {
        return !matches!(case.body, Body::Generated { .. });
    };
    let number = |k: &str, default: u64| v.get(k).and_then(|d| d.as_u64()).unwrap_or(default);
    let mode = v.get("mode").and_then(|m| m.as_str());
    let infer = case.path == "/v1/infer";
    number("token_delay_ms", 0) == 0
        && !(infer && mode == Some("io") && number("latency_ms", 100) > 0)
        && !(infer && mode == Some("cpu") && number("work", 1000) > 10)
        && number("max_tokens", 0) <= 64
        && !case.reaches_upstream()
}

/// `signal` while a 300 ms request is in flight (one worker): the request completes with
/// its 200, and the server exits 0 within the stop timeout.
fn graceful_shutdown(m: &Manifest, signal: Signal) -> Outcome {
    let mut server = start(m, 1)?;
    let target = Target::parse(&server.base_url).map_err(|e| e.to_string())?;
    let case = Case::new(
        "shutdown/in-flight-io-300ms",
        "POST",
        "/v1/infer",
        Body::Json(workloads::payloads::infer_io(300, 1)),
    );
    let rt = runtime();
    let inflight = rt.spawn(async move { send(&target, &case).await.map(|o| o.status).map_err(|e| e.to_string()) });
    std::thread::sleep(Duration::from_millis(100));
    let ended = server.stop_with(signal);
    let answered = rt.block_on(inflight).map_err(|e| e.to_string())?;
    match (&answered, ended.as_str()) {
        (Ok(200), "exit status: 0") => Ok(format!("in-flight 200, {ended}")),
        _ => Err(format!("in-flight request: {answered:?}; the server: {ended}")),
    }
}

/// With two workers, stopping the server leaves none of its processes behind.
fn stop_leaves_nothing(m: &Manifest) -> Outcome {
    let mut server = start(m, 2)?;
    let tree = harness::sampler::process_tree(server.pid);
    let ended = server.stop();
    std::thread::sleep(Duration::from_millis(200));
    let alive: Vec<i32> = tree.iter().copied().filter(|&p| harness::sampler::is_alive(p)).collect();
    if alive.is_empty() {
        Ok(format!("{} process(es) gone; {ended}", tree.len()))
    } else {
        Err(format!("processes {alive:?} of {tree:?} survived the stop ({ended})"))
    }
}

/// docs/contract.md's "Known differences" table: (target, check) → what it says happens.
fn known_differences() -> BTreeMap<(String, String), String> {
    let doc = std::fs::read_to_string(common::workspace().join("docs/contract.md")).unwrap();
    let section =
        doc.split("\n### Known differences\n").nth(1).expect("docs/contract.md has \"### Known differences\"");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            ((cells[0].to_owned(), cells[1].trim_matches('`').to_owned()), cells[2].to_owned())
        })
        .collect()
}

#[test]
fn every_target_meets_the_contract_or_its_difference_is_documented() {
    let _exclusive = common::exclusive();
    let root = common::workspace();
    harness::python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let manifests: Vec<Manifest> = manifest::discover(&root).unwrap().into_iter().map(common::debug_manifest).collect();
    for language in ["rust", "python"] {
        assert!(manifests.iter().any(|m| m.language == language), "no {language} manifest found");
    }
    let known = known_differences();
    let mut report = Vec::new();
    let mut problems = Vec::new();
    let mut failed = BTreeMap::new();
    for m in &manifests {
        for (check, run) in CHECKS {
            let started = Instant::now();
            let outcome = run(m);
            let took = started.elapsed();
            let key = (m.name.clone(), (*check).to_owned());
            match (&outcome, known.get(&key)) {
                (Ok(_), Some(said)) => problems
                    .push(format!("{} {check}: passes, but docs/contract.md lists it as failing: {said}", m.name)),
                (Err(e), None) => {
                    problems.push(format!("{} {check}: fails and is not a known difference: {e}", m.name))
                }
                // A hostile row must state the pass count it measured.
                (Err(e), Some(said)) if *check == "hostile" && !said.contains(e.split(' ').next().unwrap_or(e)) => {
                    problems.push(format!("{} hostile: measured {e}; docs/contract.md says: {said}", m.name))
                }
                _ => {}
            }
            if outcome.is_err() {
                failed.insert(key, ());
            }
            let text = match &outcome {
                Ok(s) => format!("ok ({s})"),
                Err(e) => format!("FAILS ({})", e.lines().next().unwrap_or_default()),
            };
            report.push(format!("{:<14} {check:<11} {:>6.1} s  {text}", m.name, took.as_secs_f64()));
        }
    }
    eprintln!("contract suite:\n{}", report.join("\n"));
    for key in known.keys() {
        if !manifests.iter().any(|m| m.name == key.0) || !CHECKS.iter().any(|(c, _)| *c == key.1) {
            problems.push(format!("docs/contract.md lists {} {}, which is no target's check", key.0, key.1));
        }
    }
    assert!(problems.is_empty(), "{}\n\nall outcomes:\n{}", problems.join("\n"), report.join("\n"));
}
