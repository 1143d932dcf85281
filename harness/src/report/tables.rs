//! The report's tables as data: built once from `results.json`, rendered by both
//! `index.html` and `report.md`, so the two always show the same figures and flags.

use super::view::{self, MAX, P50, P99, P999, PointKey, fmt_bytes, fmt_num, fmt_rps_ci};
use crate::results::{
    Flag, Latency, MixedSummary, MixedTransaction, Point, Results, TargetResult, TargetStatus, Workload,
};

/// One cell: its text, the flags that qualify it (shown beside it), and whether the figure is
/// absent from the run.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub flags: Vec<Flag>,
    pub missing: bool,
    /// A relative path the text links to (a file in the run directory).
    pub link: Option<String>,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Cell { text: s.into(), ..Cell::default() }
    }
    pub fn flagged(s: impl Into<String>, flags: &[Flag]) -> Self {
        Cell { text: s.into(), flags: flags.to_vec(), ..Cell::default() }
    }
    pub fn missing() -> Self {
        Cell { text: "not measured".into(), missing: true, ..Cell::default() }
    }
    fn opt(v: Option<String>) -> Self {
        v.map_or_else(Cell::missing, Cell::text)
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub id: &'static str,
    pub title: String,
    /// One sentence on what the table holds.
    pub note: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Every table that has rows, in report order. Tables whose data the run lacks are replaced
/// by a one-line "not measured in this run" note by the renderers (see [`absent`]).
pub fn all(r: &Results) -> Vec<Table> {
    [
        Some(summary(r)),
        skipped(r),
        points(r),
        streaming(r),
        chat(r),
        objectives(r),
        overhead(r),
        gateway(r),
        inflight(r),
        probe(r),
        mixed(r),
        mixed_transactions(r),
        memory_fits(r),
        cost(r),
        super::robustness_table::robustness(r),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Titles of the optional tables absent from this run; none when the run measured no point
/// (a `verify --hostile` run), where listing every workload's table would be noise.
pub fn absent(r: &Results, tables: &[Table]) -> Vec<&'static str> {
    let have: Vec<&str> = tables.iter().map(|t| t.id).collect();
    // A run of an OpenAI server alone (`--api openai`) measures none of the contract's tables.
    if !have.contains(&"points") || !view::measured_contract(r) {
        return Vec::new();
    }
    [
        ("streaming", "Streaming (generate)"),
        ("inflight", "In-flight sweep (infer-io)"),
        ("probe", "Event-loop probe (infer-cpu)"),
        ("mixed", "Mixed traffic (goose)"),
        ("memory-fits", "Memory per unit of concurrency"),
        ("robustness", "Robustness (hostile input)"),
    ]
    .into_iter()
    .filter(|(id, _)| !have.contains(id))
    .map(|(_, title)| title)
    .collect()
}

fn target_cell(t: &TargetResult) -> Cell {
    Cell::text(if t.display_name.is_empty() || t.display_name == t.name {
        t.name.clone()
    } else {
        format!("{} ({})", t.name, t.display_name)
    })
}

fn status_cell(t: &TargetResult) -> Cell {
    match (&t.verification, t.status) {
        (Some(v), _) if !v.passed => {
            Cell::flagged(format!("{} of {} cases failed", v.failures.len(), v.cases), &[Flag::VerificationFailed])
        }
        (Some(v), TargetStatus::Measured) => Cell::text(format!("measured; passed {} cases", v.cases)),
        (_, TargetStatus::Skipped) => Cell::flagged("skipped", &[Flag::Skipped]),
        (_, TargetStatus::Interrupted) => Cell::text("interrupted (partial)"),
        (_, s) => Cell::text(s.name()),
    }
}

type Col = Box<dyn Fn(&TargetResult) -> Cell>;

/// The summary's columns, header and cell function side by side.
#[derive(Default)]
struct Columns {
    headers: Vec<String>,
    cols: Vec<Col>,
}

impl Columns {
    fn push(&mut self, header: impl Into<String>, col: impl Fn(&TargetResult) -> Cell + 'static) {
        self.headers.push(header.into());
        self.cols.push(Box::new(col));
    }
}

pub(super) fn summary(r: &Results) -> Table {
    let mut c = Columns { headers: vec!["target".into(), "version".into(), "status".into()], ..Columns::default() };
    workload_columns(r, &mut c);
    memory_and_robustness_columns(r, &mut c);
    let rows = r
        .targets
        .iter()
        .map(|t| {
            let mut row = vec![target_cell(t), Cell::text(&t.framework_version), status_cell(t)];
            row.extend(c.cols.iter().map(|col| col(t)));
            row
        })
        .collect();
    Table {
        id: "summary",
        title: "Summary".into(),
        note: if view::measured_nothing(r) {
            "No point was measured in this run (a verification run, or one stopped before its first point); \
             flags beside a figure qualify it (legend below)."
                .into()
        } else {
            "Headline figures per target; flags beside a number qualify it (legend below). Latency headlines come \
             from open-loop points at the same offered rate for every target where the run has them."
                .into()
        },
        headers: c.headers,
        rows,
    }
}

/// One headline column or two per workload the run has, in report order.
fn workload_columns(r: &Results, c: &mut Columns) {
    let workloads = view::workloads(r);
    let has = |w: Workload| workloads.contains(&w);
    for w in [Workload::Health, Workload::Predict] {
        if has(w) {
            c.push(format!("{w} req/s (best closed loop, [95% CI])"), move |t| match view::best_closed(t, w) {
                Some(p) => Cell::flagged(fmt_rps_ci(p), &p.summary.flags),
                None => Cell::missing(),
            });
        }
    }
    if let Some(key) = has(Workload::Predict).then(|| view::headline_key(r, Workload::Predict)).flatten() {
        // p99 where every target's point has the samples for it (1,000), else p90 for all:
        // one percentile per column (docs/metrics.md, "Percentiles and samples").
        let (q, pick) =
            Latency::common_tail(r.targets.iter().filter_map(|t| view::find(t, &key)).map(|p| &p.summary.latency_us));
        c.push(format!("predict {q} µs ({})", key.setting()), move |t| match view::find(t, &key) {
            Some(p) => Cell::flagged(view::fmt_headline_latency(p, pick(&p.summary.latency_us)), &p.summary.flags),
            None => Cell::missing(),
        });
        c.push("predict CPU-µs/response (best closed loop)", |t| {
            match view::best_closed(t, Workload::Predict).and_then(|p| Some((p.summary.cpu_us_per_request?, p))) {
                Some((c, p)) => Cell::flagged(format!("{c:.1}"), &p.summary.flags),
                None => Cell::missing(),
            }
        });
    }
    if let Some(key) = has(Workload::Generate).then(|| view::headline_key(r, Workload::Generate)).flatten() {
        let streams = r.targets.iter().filter_map(|t| view::find(t, &key)?.summary.streaming.as_ref());
        let (q, pick) = Latency::common_tail(streams.map(|s| &s.ttft_us));
        c.push(format!("generate TTFT {q} ms / ITL jitter p99−p50 µs / tokens/s ({})", key.setting()), move |t| {
            match view::find(t, &key).and_then(|p| Some((p.summary.streaming.as_ref()?, p))) {
                Some((s, p)) => Cell::flagged(
                    format!(
                        "{} / {} / {:.0}",
                        pick(&s.ttft_us).map_or("–".into(), |v| format!("{:.1}", v as f64 / 1e3)),
                        view::fmt_signed_us(view::itl_bias_and_spread(&s.itl_us, s.token_delay_ms)[1]),
                        s.tokens_per_s
                    ),
                    &p.summary.flags,
                ),
                None => Cell::missing(),
            }
        });
    }
    if has(Workload::InferIo) {
        c.push("infer-io efficiency % (most in flight)", |t| {
            let most = view::points_of(t, Workload::InferIo).filter(|p| p.summary.inflight.is_some());
            match most.max_by_key(|p| p.connections) {
                Some(p) => Cell::flagged(
                    format!(
                        "{:.1} (c={})",
                        p.summary.inflight.as_ref().map_or(0.0, |i| i.efficiency_pct),
                        p.connections
                    ),
                    &p.summary.flags,
                ),
                None => Cell::missing(),
            }
        });
    }
    if has(Workload::InferCpu) {
        fn most(t: &TargetResult) -> Option<&Point> {
            view::points_of(t, Workload::InferCpu).filter(|p| p.summary.probe.is_some()).max_by_key(|p| p.connections)
        }
        let probes: Vec<&crate::results::ProbeSummary> =
            r.targets.iter().filter_map(|t| most(t)?.summary.probe.as_ref()).collect();
        let (q, pick) = Latency::common_tail(probes.iter().flat_map(|pr| [&pr.loaded_us, &pr.idle_us]));
        c.push(format!("probe {q} µs loaded / idle (infer-cpu, most concurrent)"), move |t| match most(t) {
            Some(p) => {
                let pr = p.summary.probe.as_ref().expect("filtered");
                Cell::flagged(
                    format!("{} / {}", Latency::show(pick(&pr.loaded_us)), Latency::show(pick(&pr.idle_us))),
                    &p.summary.flags,
                )
            }
            None => Cell::missing(),
        });
    }
    if has(Workload::Mixed) {
        c.push("mixed req/s (failures)", |t| {
            match view::points_of(t, Workload::Mixed).find_map(|p| Some((p.summary.mixed.as_ref()?, p))) {
                Some((m, p)) => Cell::flagged(
                    format!("{} ({})", fmt_num(p.summary.throughput_rps.median), http_failures(m)),
                    &p.summary.flags,
                ),
                None => Cell::missing(),
            }
        });
    }
}

/// Idle and peak RSS, and robustness when the run measured it. Every column is computed
/// for every target: those built on points say "not measured" for a target without any,
/// while idle RSS and robustness come from verification.
fn memory_and_robustness_columns(r: &Results, c: &mut Columns) {
    c.push("idle RSS", |t| {
        Cell::opt(t.cost.as_ref().and_then(|c| c.idle_rss_bytes).or(t.idle_rss_bytes).map(|b| fmt_bytes(b as f64)))
    });
    if !view::measured_nothing(r) {
        c.push("peak RSS (any point)", |t| {
            Cell::opt(t.points.iter().filter_map(|p| p.summary.rss_peak_bytes).max().map(|b| fmt_bytes(b as f64)))
        });
    }
    if r.targets.iter().any(|t| t.robustness.is_some()) {
        c.push("robustness (hostile input, slow clients)", |t| match &t.robustness {
            Some(rb) => {
                let findings = super::robustness_table::robustness_findings(rb);
                if findings.is_empty() {
                    Cell::text(format!("ok ({}/{} cases)", rb.passed, rb.cases))
                } else {
                    Cell::flagged(
                        format!("{}/{} cases; {} finding(s)", rb.passed, rb.cases, findings.len()),
                        &[Flag::NotRobust],
                    )
                }
            }
            None => Cell::missing(),
        });
    }
}

fn skipped(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = r
        .targets
        .iter()
        // A verify run's targets are verified and, by design, not measured.
        .filter(|t| {
            t.status != TargetStatus::Measured && !(view::is_verify_run(r) && t.status == TargetStatus::Verified)
        })
        .map(|t| {
            let failures = t.verification.as_ref().map_or_else(String::new, |v| {
                v.failures
                    .iter()
                    .take(20)
                    .map(|f| format!("{}: {}", f.case, f.reasons.join("; ")))
                    .collect::<Vec<_>>()
                    .join(" | ")
            });
            vec![
                target_cell(t),
                status_cell(t),
                Cell::text(t.skip_reason.clone().unwrap_or_else(|| {
                    t.interrupted.as_ref().map(|i| format!("interrupted {}", i.describe())).unwrap_or_default()
                })),
                if failures.is_empty() { Cell::text("—") } else { Cell::text(failures) },
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "skipped",
        title: "Targets not measured".into(),
        note: "A target is measured only after it passes the whole conformance corpus; these were not (or the run \
               stopped while they were running)."
            .into(),
        headers: vec!["target".into(), "status".into(), "reason".into(), "failing cases (first 20)".into()],
        rows,
    })
}

fn points(r: &Results) -> Option<Table> {
    let mut rows = Vec::new();
    for t in &r.targets {
        for p in &t.points {
            let s = &p.summary;
            let l = &s.latency_us;
            rows.push(vec![
                Cell::text(&t.name),
                Cell::text(PointKey::of(p).label()),
                Cell::text(p.repeats.len().to_string()),
                Cell::flagged(fmt_rps_ci(p), &s.flags),
                Cell::text(format!("{}–{}", fmt_num(s.throughput_rps.min), fmt_num(s.throughput_rps.max))),
                Cell::text(l.show_n()),
                Cell::text(view::fmt_latency_us(Some(l.p50))),
                Cell::text(view::fmt_latency_us(l.p90)),
                Cell::text(view::fmt_latency_us(l.p99)),
                Cell::text(view::fmt_latency_us(l.p999)),
                Cell::text(view::fmt_latency_us(Some(l.max))),
                Cell::opt(s.send_lag_us.as_ref().map(|g| view::fmt_pcts(g, &[P50, P99]))),
                Cell::opt(s.cpu_us_per_request.map(|c| format!("{c:.1}"))),
                Cell::opt(s.rss_peak_bytes.map(|b| fmt_bytes(b as f64))),
                Cell::text(format!("{:.0}%", 100.0 * s.client_cpu_share)),
                Cell::text(format!("{} / {}", s.errors, s.dropped)),
                Cell::flagged("", &s.flags),
            ]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    Some(Table {
        id: "points",
        title: "Every point".into(),
        note: "One row per target and point. Latencies in µs from the repeats' merged HdrHistogram, over every \
               request of the windows: a failed one (transport error, timeout, unexpected status, dropped) counts as \
               at least the 10 s timeout, and a percentile among failures reads \"> timeout\". Open-loop \
               latencies count from the scheduled send time; an `overloaded` point's are queue growth, not \
               figures to compare. Closed-loop latencies are subject to coordinated omission and are not the \
               headline. n is the samples behind the percentiles; a percentile is given only when at least 10 \
               lie beyond it (p90 from 100, p99 from 1,000, p99.9 from 10,000), else \"–\"."
            .into(),
        headers: [
            "target",
            "point",
            "repeats",
            "req/s median [95% CI]",
            "min–max",
            "n",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "send lag µs p50 / p99 (open loop)",
            "CPU-µs/resp",
            "peak RSS",
            "client CPU",
            "errors / dropped",
            "flags",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

fn each_point<'a>(
    r: &'a Results,
    pred: impl Fn(&Point) -> bool + 'a,
) -> impl Iterator<Item = (&'a TargetResult, &'a Point)> + 'a {
    r.targets.iter().flat_map(move |t| t.points.iter().filter(|p| pred(p)).map(move |p| (t, p)).collect::<Vec<_>>())
}

fn streaming(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = each_point(r, |p| p.summary.streaming.is_some())
        .map(|(t, p)| {
            let s = p.summary.streaming.as_ref().expect("filtered");
            vec![
                Cell::text(&t.name),
                Cell::text(PointKey::of(p).setting()),
                Cell::text(view::fmt_pcts(&s.ttft_us, &[P50, P99])),
                Cell::text(format!("{:.0} / {}", s.ttft_overhead_us.p50, view::fmt_signed_us(s.ttft_overhead_us.p99))),
                Cell::text(view::fmt_pcts(&s.itl_us, &[P50, P99])),
                Cell::text({
                    let [bias, p99, p999] =
                        view::itl_bias_and_spread(&s.itl_us, s.token_delay_ms).map(view::fmt_signed_us);
                    format!("{bias} / {p99} / {p999}")
                }),
                Cell::text(view::fmt_pcts(&s.tpot_us, &[P50, P99])),
                Cell::text(format!("{:.0}", s.tokens_per_s)),
                Cell::opt(p.summary.held_concurrency.map(|h| format!("{h:.1} of {}", p.connections))),
                Cell::flagged(format!("{:.1}%", 100.0 * s.streams_correct_share), &p.summary.flags),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "streaming",
        title: "Streaming (generate)".into(),
        note: "Per generate point, in µs: TTFT to the first token event, its overhead beyond one token delay, \
               inter-token latency (ITL), its bias (ITL p50 − token delay) and its jitter (the spread \
               p99 − p50 and p99.9 − p50), time per output token (TPOT). Streams held at once is throughput × the \
               stream's token delays (closed loop): below the connections, the server made the rest wait (Flask's \
               thread pool holds 32), so their TTFT includes that wait."
            .into(),
        headers: [
            "target",
            "point",
            "TTFT p50 / p99",
            "TTFT overhead p50 / p99",
            "ITL p50 / p99",
            "ITL bias p50−delay / jitter p99−p50 / p99.9−p50",
            "TPOT p50 / p99",
            "tokens/s",
            "streams held at once",
            "streams correct",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// Every latency objective given with `--slo`, judged on every point of its workload.
fn objectives(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = each_point(r, |p| !p.summary.objectives.is_empty())
        .flat_map(|(t, p)| {
            p.summary.objectives.iter().map(move |o| {
                let verdict = match o.met {
                    Some(true) => "met",
                    Some(false) if p.summary.flags.contains(&Flag::Overloaded) => "missed (overloaded)",
                    Some(false) => "missed",
                    None => "unknown (too few samples)",
                };
                vec![
                    Cell::text(&t.name),
                    Cell::text(PointKey::of(p).setting()),
                    Cell::text(&o.objective),
                    Cell::text(format!("{} (n {})", Latency::show(o.value_us), p.summary.latency_us.show_n())),
                    Cell::flagged(verdict, &p.summary.flags),
                ]
            })
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "objectives",
        title: "Latency objectives (--slo)".into(),
        note: "Each objective against every point of its workload: the point's percentile over all its windows \
               (failures included), in µs; met when within the limit on a point that was not overloaded."
            .into(),
        headers: ["target", "point", "objective", "value µs", "verdict"].map(String::from).to_vec(),
        rows,
    })
}

/// A wrapper's paired ratios to the target whose app it serves (ray-serve and bentoml over
/// fastapi), per point both measured.
fn overhead(r: &Results) -> Option<Table> {
    let ratio = |x: &Option<crate::analysis::PairedRatio>| match x {
        Some(x) => format!(
            "{:.3}× [{:.3}–{:.3}] ({} rounds){}",
            x.ratio,
            x.ci95_low,
            x.ci95_high,
            x.rounds,
            if x.differs() { "" } else { ", no measurable difference" }
        ),
        None => "–".into(),
    };
    let rows: Vec<Vec<Cell>> = crate::analysis::overheads(&r.targets)
        .iter()
        .map(|o| {
            vec![
                Cell::text(&o.target),
                Cell::text(&o.baseline),
                Cell::text(o.key.label()),
                Cell::flagged(ratio(&o.throughput), &o.flags),
                Cell::text(ratio(&o.cpu_per_request)),
                Cell::text(ratio(&o.latency_p50)),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "overhead",
        title: "Overhead over the wrapped framework".into(),
        note: "A serving stack against the plain framework whose app it runs, at each point both measured in this \
               run: target ÷ baseline, each round's ratio taken within the round (whose windows ran back to back), \
               mean of the log ratios with its 95% interval over the rounds. Throughput below 1 and CPU per \
               response or median latency above 1 are the stack's cost; flags of either point qualify the row."
            .into(),
        headers: ["target", "over", "point", "throughput ratio", "CPU-µs per response ratio", "p50 latency ratio"]
            .map(String::from)
            .to_vec(),
        rows,
    })
}

/// A paired difference in ms: `+2.1 [1.8–2.4] (3 rounds)`, or why there is none.
fn diff_ms(d: &Option<crate::analysis::PairedDiff>) -> String {
    match d {
        Some(d) => {
            format!("{:+.2} [{:+.2}, {:+.2}] ({} rounds)", d.diff / 1e3, d.ci95_low / 1e3, d.ci95_high / 1e3, d.rounds)
        }
        None => "– (too few samples or rounds)".into(),
    }
}

/// Each gateway against its upstream asked straight (`upstream-direct`), per closed-loop
/// chat point: what the framework and its HTTP client add (docs/metrics.md, "Gateway overhead").
fn gateway(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = crate::analysis::gateway_overheads(&r.targets)
        .iter()
        .map(|o| {
            let rounds = o.ttft_p50_us.map_or(0, |d| d.rounds);
            vec![
                Cell::text(&o.target),
                Cell::flagged(o.key.setting(), &o.flags),
                Cell::text(diff_ms(&o.ttft_p50_us)),
                Cell::text(diff_ms(&o.ttft_p99_us)),
                Cell::text(diff_ms(&o.e2el_p50_us)),
                Cell::text(diff_ms(&o.e2el_p99_us)),
                Cell::text(spread_cell(o.cpu_us_per_token.as_ref(), rounds)),
                Cell::text(spread_cell(o.cpu_us_per_stream.as_ref(), rounds)),
                Cell::text(match (&o.pss_per_stream_bytes, o.held_streams) {
                    (Some(s), Some(h)) if s.median >= 0.0 => format!("{} over {h:.1} streams", fmt_bytes(s.median)),
                    (Some(_), Some(h)) => format!("below idle, over {h:.1} streams"),
                    _ => "–".into(),
                }),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "gateway",
        title: "LLM gateway: overhead over the upstream asked straight".into(),
        note: "Each target forwarding chat completions to its own mock model server, against that mock asked \
               straight (upstream-direct) at the same closed-loop point in the same rounds: TTFT and E2EL \
               percentiles, target − direct in ms, each round's difference taken within the round, mean with its \
               95% interval over the rounds (a p99 only where every window had 1,000 streams); server CPU-µs per \
               streamed token and per stream, median [95% CI] over rounds; PSS above idle per stream held \
               (throughput × mean E2E latency). The mock runs on the client CPUs."
            .into(),
        headers: [
            "target",
            "point",
            "TTFT p50 +ms",
            "TTFT p99 +ms",
            "E2EL p50 +ms",
            "E2EL p99 +ms",
            "CPU-µs per token",
            "CPU-µs per stream",
            "PSS per open stream",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// `1.2 [1.1–1.3]` from a spread of rounds (median and 95% CI of the mean), or "–".
fn spread_cell(s: Option<&crate::results::Spread>, rounds: usize) -> String {
    match s {
        Some(s) if rounds >= 2 => {
            format!("{} [{}–{}]", fmt_num(s.median), fmt_num(s.ci95_low.max(0.0)), fmt_num(s.ci95_high))
        }
        Some(s) => fmt_num(s.median),
        None => "–".into(),
    }
}

/// Per chat point: our TTFT beside vLLM's rule, ITL, TPOT, E2EL, the rates and goodput, and
/// where the token counts came from (docs/metrics.md, "Chat").
fn chat(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = each_point(r, |p| p.summary.chat.is_some())
        .map(|(t, p)| {
            let c = p.summary.chat.as_ref().expect("filtered");
            let tokens = match (c.tokens_from_usage, c.tokens_from_chunks) {
                (_, 0) => "usage".to_owned(),
                (0, n) => format!("output chunks ({n} streams without usage)"),
                (u, n) => format!("usage ({u}), output chunks ({n})"),
            };
            let reasoning = if c.reasoning_chunks > 0 {
                format!("; {} of {} chunks reasoning", c.reasoning_chunks, c.output_chunks)
            } else {
                String::new()
            };
            vec![
                Cell::text(&t.name),
                Cell::text(PointKey::of(p).setting()),
                Cell::text(format!("{} / {}", c.streams_complete, c.streams_incomplete)),
                Cell::text(ms_pair(&c.ttft_us)),
                Cell::text(ms_pair(&c.ttft_vllm_us)),
                Cell::text(ms_pair(&c.itl_us)),
                Cell::text(ms_pair(&c.tpot_us)),
                Cell::text(ms_pair(&c.e2el_us)),
                Cell::flagged(fmt_rps_ci(p), &p.summary.flags),
                Cell::text(spread_cell(Some(&c.output_tokens_per_s), p.repeats.len())),
                Cell::text(match &c.goodput_rps {
                    Some(g) => format!("{} ({})", spread_cell(Some(g), p.repeats.len()), c.slo.join(", ")),
                    None => "no chat objective given".into(),
                }),
                Cell::text(format!("{tokens}{reasoning}")),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "chat",
        title: "Chat (OpenAI streaming)".into(),
        note: "Per chat point, in ms with n: TTFT from the scheduled (open loop) or send (closed loop) time to \
               the first chunk carrying output (a role-only chunk does not count); vLLM's TTFT from the send to \
               the first chunk with non-empty choices (its client's rule, for comparison with vLLM's figures); \
               ITL between output chunks; TPOT = (E2EL − TTFT) ÷ (output tokens − 1); E2EL to the last output \
               chunk. A failed request counts in TTFT and E2EL as \"> timeout\". Rates are medians over rounds \
               with the 95% interval."
            .into(),
        headers: [
            "target",
            "point",
            "streams complete / failed",
            "TTFT p50 / p99",
            "vLLM-rule TTFT p50 / p99",
            "ITL p50 / p99",
            "TPOT p50 / p99",
            "E2EL p50 / p99",
            "requests/s",
            "output tokens/s",
            "goodput req/s",
            "tokens counted from",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

fn inflight(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = each_point(r, |p| p.summary.inflight.is_some())
        .map(|(t, p)| {
            let i = p.summary.inflight.as_ref().expect("filtered");
            vec![
                Cell::text(&t.name),
                Cell::text(p.connections.to_string()),
                Cell::text(i.latency_ms.to_string()),
                Cell::text(fmt_num(i.ideal_rps)),
                Cell::flagged(fmt_rps_ci(p), &p.summary.flags),
                Cell::text(format!("{:.1}", i.efficiency_pct)),
                Cell::text(format!(
                    "{:.0} / {} / {} (n {})",
                    i.overhead_us.p50,
                    view::fmt_signed_us(i.overhead_us.p99),
                    view::fmt_signed_us(i.overhead_us.p999),
                    p.summary.latency_us.show_n()
                )),
                Cell::opt(p.summary.rss_mean_bytes.map(|b| fmt_bytes(b as f64))),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "inflight",
        title: "In-flight sweep (infer-io)".into(),
        note: "Slow I/O-bound inference: ideal req/s is in-flight requests ÷ latency; efficiency is the median \
               throughput as a share of it; overhead is latency beyond the requested wait."
            .into(),
        headers: [
            "target",
            "in flight",
            "latency ms",
            "ideal req/s",
            "req/s [95% CI]",
            "efficiency %",
            "overhead µs p50 / p99 / p99.9",
            "mean RSS",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

fn probe(r: &Results) -> Option<Table> {
    let rows: Vec<Vec<Cell>> = each_point(r, |p| p.summary.probe.is_some())
        .map(|(t, p)| {
            let pr = p.summary.probe.as_ref().expect("filtered");
            let flags: Vec<Flag> =
                p.summary.flags.iter().copied().chain((pr.probe_errors > 0).then_some(Flag::Errors)).collect();
            vec![
                Cell::text(&t.name),
                Cell::text(p.connections.to_string()),
                Cell::text(pr.work.to_string()),
                Cell::text(p.summary.cpu_us_per_request.map_or("–".into(), |us| fmt_num(us / 1e3))),
                Cell::flagged(fmt_rps_ci(p), &p.summary.flags),
                Cell::text(view::fmt_pcts(&pr.idle_us, &[P50, P99, P999])),
                Cell::opt(pr.awake_us.as_ref().map(|a| view::fmt_pcts(a, &[P50, P99, P999]))),
                Cell::flagged(view::fmt_pcts(&pr.loaded_us, &[P50, P99, P999]), &flags),
                Cell::text(format!("{} ({} errors)", pr.probe_requests, pr.probe_errors)),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Table {
        id: "probe",
        title: "Event-loop probe (infer-cpu)".into(),
        note: "CPU-bound inference at the given concurrency with a /health probe beside it; probe latency in µs \
               under that load and on an idle server. `work` is calibrated on each target so that one request \
               costs about the profile's `cpu_target_ms` of its own server CPU (concurrency 1); the CPU column is \
               what a request cost at this point. The awake idle baseline keeps the server CPU out of its idle \
               states (a SCHED_IDLE spinner on the server and client CPUs), as load does: the floor to compare loaded figures with."
            .into(),
        headers: [
            "target",
            "concurrency",
            "work",
            "server CPU ms / request",
            "infer req/s [95% CI]",
            "probe idle p50 / p99 / p99.9",
            "probe idle, CPU kept awake, p50 / p99 / p99.9",
            "probe loaded p50 / p99 / p99.9",
            "probe requests",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// goose's custom records (the SSE TTFT) are named `SSE …`; every other name is an HTTP
/// request (docs/metrics.md, "Mixed traffic").
fn is_http(x: &MixedTransaction) -> bool {
    !x.name.starts_with("SSE ")
}

fn http_failures(m: &MixedSummary) -> u64 {
    m.transactions.iter().filter(|x| is_http(x)).map(|x| x.failures).sum()
}

fn is_relative_file(path: &str) -> bool {
    !path.is_empty() && !path.contains(':') && !path.starts_with('/') && !path.split('/').any(|c| c == "..")
}

fn ms_pair(l: &crate::results::Latency) -> String {
    let ms = |v: Option<u64>| v.map_or("–".into(), |v| fmt_num(v as f64 / 1e3));
    format!("{} / {} (n {})", ms(Some(l.p50)), ms(l.p99), l.show_n())
}

/// One row per target: the scenario's load, each HTTP transaction's p50/p99, the streaming
/// TTFT, what goose cost on the client, and goose's own report.
fn mixed(r: &Results) -> Option<Table> {
    let found: Vec<(&TargetResult, &Point, &MixedSummary)> = each_point(r, |p| p.summary.mixed.is_some())
        .map(|(t, p)| (t, p, p.summary.mixed.as_ref().expect("filtered")))
        .collect();
    if found.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, _, m) in &found {
        for x in m.transactions.iter().filter(|x| is_http(x)) {
            if !names.contains(&x.name.as_str()) {
                names.push(&x.name);
            }
        }
    }
    names.sort_unstable();
    let mut headers: Vec<String> = ["target", "users", "HTTP req/s", "failures"].map(String::from).to_vec();
    headers.extend(names.iter().map(|n| format!("{n} p50 / p99 ms")));
    headers.extend(["SSE TTFT p50 / p99 ms", "goose client CPU-µs/request", "goose report"].map(String::from));
    let rows = found
        .iter()
        .map(|(t, p, m)| {
            let failures = http_failures(m);
            let fail_flags: Vec<Flag> = (failures > 0).then_some(Flag::Errors).into_iter().collect();
            let mut row = vec![
                Cell::text(&t.name),
                Cell::text(m.users.to_string()),
                Cell::flagged(fmt_num(p.summary.throughput_rps.median), &p.summary.flags),
                Cell::flagged(failures.to_string(), &fail_flags),
            ];
            row.extend(
                names
                    .iter()
                    .map(|n| Cell::opt(m.transactions.iter().find(|x| x.name == *n).map(|x| ms_pair(&x.latency_us)))),
            );
            row.push(Cell::opt(
                m.transactions.iter().find(|x| x.name == "SSE generate TTFT").map(|x| ms_pair(&x.latency_us)),
            ));
            row.push(Cell::opt(m.client_cpu_us_per_request.map(|c| format!("{c:.0}"))));
            row.push(match &m.goose_report {
                // Only a path inside the run directory becomes a link: the page fetches nothing.
                Some(path) if is_relative_file(path) => Cell { link: Some(path.clone()), ..Cell::text(path) },
                Some(path) => Cell::text(path),
                None => Cell::missing(),
            });
            row
        })
        .collect();
    Some(Table {
        id: "mixed",
        title: "Mixed traffic (goose)".into(),
        note: "The goose scenario per target: users, HTTP requests per second over the measured seconds (the SSE \
               TTFT records are not requests), failed HTTP requests, each request's p50 / p99 as goose timed it \
               (to the response headers, so POST /v1/generate is time to headers), the time to the first token \
               of the generate streams, the harness's CPU per request while goose ran, and goose's own report."
            .into(),
        headers,
        rows,
    })
}

/// goose's figures per transaction, for the detail behind the per-target table.
fn mixed_transactions(r: &Results) -> Option<Table> {
    let mut rows = Vec::new();
    for (t, p) in each_point(r, |p| p.summary.mixed.is_some()) {
        let m = p.summary.mixed.as_ref().expect("filtered");
        for x in &m.transactions {
            let flags: Vec<Flag> = (x.failures > 0).then_some(Flag::Errors).into_iter().collect();
            rows.push(vec![
                Cell::text(&t.name),
                Cell::text(&x.name),
                Cell::text(x.requests.to_string()),
                Cell::flagged(x.failures.to_string(), &flags),
                Cell::text(fmt_num(x.rps)),
                Cell::text(view::fmt_pcts(&x.latency_us, &[P50, P99, MAX])),
            ]);
        }
    }
    (!rows.is_empty()).then(|| Table {
        id: "mixed-transactions",
        title: "Mixed traffic per transaction (goose)".into(),
        note: "Per request name of the goose scenario, as goose measured it; latency in µs.".into(),
        headers: ["target", "transaction", "requests", "failures", "req/s", "latency µs p50 / p99 / max"]
            .map(String::from)
            .to_vec(),
        rows,
    })
}

fn memory_fits(r: &Results) -> Option<Table> {
    let mut rows = Vec::new();
    for t in &r.targets {
        let Some(m) = &t.memory else { continue };
        for (what, fit) in
            [("per open stream", &m.bytes_per_open_stream), ("per in-flight request", &m.bytes_per_inflight_request)]
        {
            if let Some(f) = fit {
                rows.push(vec![
                    Cell::text(&t.name),
                    Cell::text(what),
                    Cell::text(fmt_bytes(f.slope_bytes)),
                    Cell::text(fmt_bytes(f.intercept_bytes)),
                    Cell::text(format!("{:.3}", f.r2)),
                    Cell::text(f.points.len().to_string()),
                ]);
            }
        }
    }
    (!rows.is_empty()).then(|| Table {
        id: "memory-fits",
        title: "Memory per unit of concurrency".into(),
        note: "Least-squares line of the server tree's mean PSS against the streams (generate) or requests \
               (infer-io) the server held (throughput × the hold time, not the client's connections), across \
               the closed-loop levels, the lowest (after its warm-up) as baseline; r² near 1 means memory grows \
               linearly (with two levels it is 1 by construction). Older files: RSS against connections, idle \
               RSS at zero."
            .into(),
        headers: ["target", "per", "bytes each (slope)", "intercept", "r²", "points"].map(String::from).to_vec(),
        rows,
    })
}

fn cost(r: &Results) -> Option<Table> {
    // A verify run measures no cost; startup and idle RSS alone are in the summary.
    if r.targets.iter().all(|t| t.cost.is_none() && t.points.is_empty()) {
        return None;
    }
    let rows = r
        .targets
        .iter()
        .map(|t| {
            let c = t.cost.clone().unwrap_or_default();
            let startup = c.startup_ms_median.or(t.startup_ms).map(|m| {
                if c.startup_runs_ms.len() > 1 {
                    format!("{m:.1} (median of {})", c.startup_runs_ms.len())
                } else {
                    format!("{m:.1}")
                }
            });
            vec![
                target_cell(t),
                Cell::opt(startup),
                Cell::opt(c.idle_rss_bytes.or(t.idle_rss_bytes).map(|b| fmt_bytes(b as f64))),
                Cell::opt(c.idle_pss_bytes.map(|b| fmt_bytes(b as f64))),
                Cell::opt(c.idle_processes.zip(c.idle_threads).map(|(p, t)| format!("{p} / {t}"))),
                Cell::opt(c.idle_cpu_cores.map(|x| format!("{:.1}%", x * 100.0))),
                Cell::opt(c.binary_bytes.map(|b| fmt_bytes(b as f64))),
                // Files from before the per-target closure hold the whole venv's size.
                Cell::opt(
                    c.install_bytes
                        .map(|b| fmt_bytes(b as f64))
                        .or(c.venv_bytes.map(|b| format!("{} (whole venv)", fmt_bytes(b as f64)))),
                ),
                Cell::opt(
                    c.dependency_count
                        .map(|d| format!("{d} {}", c.dependency_kind.as_deref().unwrap_or("")).trim().to_owned()),
                ),
                Cell::opt(c.loc.map(|l| l.to_string())),
                Cell::opt(c.build_s.map(|b| format!("{b:.1} ({})", c.build_kind.as_deref().unwrap_or("?")))),
            ]
        })
        .collect();
    Some(Table {
        id: "cost",
        title: "Cost of ownership".into(),
        note: "What a target costs beside its speed: cold start to the first 200; memory (RSS and PSS, whose \
               shared pages are split between the processes that map them), processes, threads and server CPU \
               over 1 s at idle; artefact size (a Python target: the files its own dependency closure installed, \
               not the shared venv); dependencies; lines of code of its own implementation; build time."
            .into(),
        headers: [
            "target",
            "startup ms",
            "idle RSS",
            "idle PSS",
            "processes / threads",
            "idle CPU",
            "binary",
            "installed",
            "dependencies",
            "lines of code",
            "build s",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}
