//! `harness report`: every chart from a fixture with every optional section, a self-contained
//! page that renders in a real browser, Markdown and CSV that match the results, and clear
//! failures on bad input. The fixture (tests/fixtures/report-results.json) holds flags, a
//! target that failed verification, a target that never started, the newer optional fields
//! (cost, memory fits, infer-io, infer-cpu probe at three concurrency levels, mixed,
//! robustness), and eight measured targets with names up to 12 characters, as a run of all
//! Rust and Python targets has.

use std::path::{Path, PathBuf};
use std::process::Command;

const CHARTS: [&str; 9] = [
    "throughput",
    "latency-spectrum",
    "latency-vs-load",
    "cpu-per-request",
    "memory",
    "streaming",
    "inflight",
    "probe",
    "gateway-overhead",
];

/// A fresh directory under the system temp dir holding a copy of `results`; removed on drop.
struct RunDir(PathBuf);

impl RunDir {
    fn with(results: &Path, tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mlapi-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(results).unwrap()).unwrap();
        complete_robustness(&mut json);
        std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        RunDir(dir)
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The robustness section grows as checks are added; the fixture states the figures it cares
/// about and takes every other field from `Robustness::default()`, so it keeps loading.
fn complete_robustness(results: &mut serde_json::Value) {
    fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
        match (base, over) {
            (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
                for (k, v) in o {
                    match b.get_mut(k) {
                        Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                        _ => {
                            b.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    let mut defaults = serde_json::to_value(harness::results::Robustness::default()).unwrap();
    if let Some(obj) = defaults.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            // Nested sections default to absent; give them their own defaults to merge into.
            if v.is_null() {
                match k.as_str() {
                    "slowloris" => *v = serde_json::to_value(harness::results::Slowloris::default()).unwrap(),
                    "disconnect" => *v = serde_json::to_value(harness::results::Disconnect::default()).unwrap(),
                    _ => {}
                }
            }
        }
    }
    for t in results["targets"].as_array_mut().unwrap() {
        if let Some(rb) = t.get("robustness").filter(|v| v.is_object()).cloned() {
            let mut full = defaults.clone();
            merge(&mut full, &rb);
            t["robustness"] = full;
        }
    }
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-results.json")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example-quick/results.json")
}

fn generated(tag: &str) -> RunDir {
    let dir = RunDir::with(&fixture(), tag);
    let w = harness::report::generate(&dir.0).unwrap();
    assert!(w.charts_not_measured.is_empty(), "fixture lacks data for {:?}", w.charts_not_measured);
    dir
}

#[test]
fn fixture_renders_every_chart_as_svg_and_png() {
    let dir = generated("charts");
    for c in CHARTS {
        let svg = dir.read(&format!("{c}.svg"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{c}.svg is not an SVG document");
        assert!(svg.contains("<text"), "{c}.svg has no text");
        assert!(svg.contains("AMD EPYC"), "{c}.svg lacks the environment footer");
        let png = std::fs::read(dir.0.join(format!("{c}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{c}.png is not a PNG");
        assert!(png.len() > 10_000, "{c}.png is suspiciously small ({} bytes)", png.len());
    }
    // Every measured target appears in every chart (legend or group labels), eight of them.
    for c in CHARTS {
        let svg = dir.read(&format!("{c}.svg"));
        for name in ["axum", "actix-web", "poem", "hyper", "fastapi", "litestar", "django-ninja", "flask"] {
            assert!(svg.contains(name), "{c}.svg lacks target {name}");
        }
    }
    // The probe chart has one bar per concurrency level beside the idle baseline.
    let probe = dir.read("probe.svg");
    for level in ["idle (no other load)", "1 CPU-bound request in flight", "8 CPU-bound requests in flight"] {
        assert!(probe.contains(level), "probe.svg lacks the legend entry {level:?}");
    }
    // Axis labels carry units.
    for (c, unit) in [
        ("throughput", "responses/s"),
        ("latency-spectrum", "latency (µs"),
        ("memory", "MiB"),
        ("probe", "latency (ms"),
    ] {
        assert!(dir.read(&format!("{c}.svg")).contains(unit), "{c}.svg lacks its unit {unit}");
    }
}

#[test]
fn html_is_self_contained_and_shows_flags_next_to_numbers() {
    let dir = generated("html");
    let html = dir.read("index.html");
    for forbidden in ["http://", "https://", "<link", "<script", "src=", "@import", "url("] {
        assert!(!html.contains(forbidden), "index.html contains {forbidden:?}: it must not fetch anything");
    }
    assert_eq!(html.matches("<svg class=\"chart\"").count(), CHARTS.len(), "every chart is inlined once");
    // Flags sit in the same cell as the number they qualify, after the interval and its
    // number of rounds.
    assert!(
        html.contains("rounds) <span class=\"flag f-noisy\"") || html.contains("rounds)<span class=\"flag f-noisy\""),
        "noisy flag not beside its figure"
    );
    for needle in [
        "f-errors",
        "f-dropped",
        "f-single_run",
        "f-verification_failed",
        "2 of 146 cases failed",
        "predict-row-missing-feature",
        "did not answer /health within 10 s",
        "hostile-deep-nesting",
        "Cost of ownership",
        "Robustness (hostile input)",
        "probes ok",
        "In-flight sweep (infer-io)",
        "Event-loop probe (infer-cpu)",
        "Mixed traffic (goose)",
        "Mixed traffic per transaction (goose)",
        "SSE TTFT p50 / p99 ms",
        "<a href=\"django-ninja.goose.html\">django-ninja.goose.html</a>",
        "Memory per unit of concurrency",
        "fixture: synthetic figures",
        // The run dir is outside the checkout, so the docs are named rather than linked.
        "<code>docs/metrics.md</code>",
        "<code>docs/methodology.md</code>",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }
    assert!(!html.contains("not measured in this run:"), "the fixture has every optional section");
}

#[test]
fn csv_has_one_row_per_target_and_point() {
    let dir = generated("csv");
    let r: harness::results::Results = serde_json::from_str(&dir.read("results.json")).unwrap();
    let points: usize = r.targets.iter().map(|t| t.points.len()).sum();
    assert_eq!(points, 114, "8 measured targets × 14 points, and upstream-direct's 2");
    let mut rd = csv::Reader::from_path(dir.0.join("results.csv")).unwrap();
    let headers = rd.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), points);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let noisy = rows.iter().find(|r| r[col("flags")].contains("noisy")).expect("the noisy point");
    assert_eq!(&noisy[col("target")], "axum");
    assert!(rows.iter().any(|r| !r[col("inflight_efficiency_pct")].is_empty()));
    assert!(rows.iter().any(|r| !r[col("probe_loaded_p99_us")].is_empty()));
}

#[test]
fn markdown_has_the_tables_and_links_the_pngs() {
    let dir = generated("md");
    let md = dir.read("report.md");
    for c in CHARTS {
        assert!(md.contains(&format!("]({c}.png)")), "report.md does not link {c}.png");
    }
    assert!(md.contains("| target | version | status |"));
    assert!(md.contains("`⚠ noisy`") && md.contains("`⚠ verification_failed`"));
    assert!(md.contains("## Cost of ownership"));
    assert!(md.contains("[flask.goose.html](flask.goose.html)"), "report.md does not link the goose reports");
    // The gateway table pairs each target with upstream-direct round by round: the fixture's
    // rounds drift by 2 ms on both sides alike, so axum's added TTFT is exactly its 1.5 ms.
    assert!(md.contains("## LLM gateway: overhead over the upstream asked straight"));
    assert!(
        md.contains("| axum | closed c=16 | +1.50 [+1.50, +1.50] (3 rounds) |"),
        "gateway table not paired by round"
    );
}

#[test]
fn example_run_reports_and_says_what_it_did_not_measure() {
    let dir = RunDir::with(&example(), "example");
    let w = harness::report::generate(&dir.0).unwrap();
    assert_eq!(w.charts_not_measured, ["inflight", "probe", "gateway-overhead"]);
    let html = dir.read("index.html");
    assert!(html.contains("not measured in this run"));
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 6);
    assert!(!dir.0.join("inflight.png").exists());
    let csv_rows = dir.read("results.csv").lines().count() - 1;
    assert_eq!(csv_rows, 20, "4 targets × 5 points");
}

#[test]
fn the_command_regenerates_from_results_json_and_rejects_bad_input() {
    let dir = RunDir::with(&fixture(), "cli");
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).arg("report").arg(&dir.0).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("index.html"));
    assert!(dir.0.join("index.html").is_file() && dir.0.join("report.md").is_file());

    let missing = dir.0.join("nope");
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).arg("report").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read") && err.contains("results.json"), "{err}");
}

/// Opens index.html in headless Chromium with a probe script appended to a copy, and checks
/// that every image loaded and every inline chart has a rendered size. Skips (with a message)
/// only where Chromium is not installed; .ci/run installs it.
#[test]
fn page_renders_in_chromium_without_broken_images() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        eprintln!(
            "SKIPPED page_renders_in_chromium_without_broken_images: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let dir = generated("chromium");
    let html = dir.read("index.html");
    let probe = r#"<script>window.addEventListener('load', () => {
        const imgs = [...document.images];
        const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
        const charts = [...document.querySelectorAll('svg.chart')];
        const drawn = charts.filter(s => s.getBoundingClientRect().height > 200 && s.querySelectorAll('text').length > 5).length;
        const d = document.createElement('div');
        d.id = 'probe';
        d.textContent = `images=${imgs.length} broken=${broken} charts=${charts.length} drawn=${drawn}`;
        document.body.appendChild(d);
    });</script></body>"#;
    let page = dir.0.join("probe.html");
    std::fs::write(&page, html.replace("</body>", probe)).unwrap();
    let profile = dir.0.join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,4000",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let line =
        dom.split("<div id=\"probe\">").nth(1).and_then(|s| s.split("</div>").next()).unwrap_or_else(|| {
            panic!("the probe did not run; chromium said: {}", String::from_utf8_lossy(&out.stderr))
        });
    assert_eq!(line, format!("images=0 broken=0 charts={0} drawn={0}", CHARTS.len()), "{line}");
}

#[test]
fn an_interrupted_run_says_so_on_its_first_line() {
    let dir = RunDir::with(&example(), "interrupted");
    let path = dir.0.join("results.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let record = serde_json::json!({
        "at": "2026-12-01T20:00:00Z", "target": "poem", "during": "measuring",
        "point": "generate closed c=50", "repeat": 2, "repeats": 2, "recorded_by": "harness"
    });
    json["interrupted"] = record.clone();
    json["finished_at"] = serde_json::Value::Null;
    let poem = json["targets"].as_array_mut().unwrap().iter_mut().find(|t| t["name"] == "poem").unwrap();
    poem["status"] = "interrupted".into();
    poem["interrupted"] = record;
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    harness::report::generate(&dir.0).unwrap();
    let md = dir.read("report.md");
    let first = md.lines().next().unwrap();
    assert!(first.starts_with("**Interrupted run:"), "{first}");
    assert!(first.contains("at 2026-12-01T20:00:00Z, poem: measuring generate closed c=50, repeat 2 of 2"), "{first}");
    let html = dir.read("index.html");
    let body = html.split("<body>").nth(1).unwrap();
    assert!(body.starts_with("<p class=\"warn\" id=\"interrupted\"><b>Interrupted run:"), "{}", &body[..200]);
    assert!(html.contains(" (interrupted)</title>"), "the page title says so too");
    assert!(html.contains("interrupted (partial)"), "the target's status cell says so");
}
