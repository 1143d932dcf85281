//! The report's charts, each built from `results.json` alone as a [`Figure`]. A chart whose
//! data the run lacks is still returned (with empty panels), so every output can say "not
//! measured in this run" in its place.
//!
//! Ranges: bars of a median throughput carry the 95% CI of the mean over repeats (as stored
//! in `summary.throughput_rps`); every other whisker is the min–max of the per-repeat values
//! (docs/metrics.md, "Reports").

use plotters::style::RGBColor;

use super::figure::{Bar, BarPanel, BarSeries, Figure, LegendEntry, Line, LinePanel, LinePoint, Mark, Panel};
use super::view::{self, NOT_MEASURED, PointKey};
use crate::results::{Latency, Point, PointMode, Repeat, Results, TargetResult, Workload};
use crate::stats;

/// A figure and the sentence that says what it shows and how to read it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub figure: Figure,
    pub caption: String,
}

/// Every chart, in report order. File stems are stable: `throughput`, `latency-spectrum`,
/// `latency-vs-load`, `cpu-per-request`, `memory`, `streaming`, `inflight`, `probe`,
/// `gateway-overhead`.
pub fn all(r: &Results) -> Vec<Chart> {
    vec![
        throughput(r),
        latency_spectrum(r),
        latency_vs_load(r),
        cpu_per_request(r),
        memory(r),
        streaming(r),
        inflight(r),
        probe(r),
        gateway_overhead(r),
    ]
}

fn figure(r: &Results, name: &str, title: &str, legend: Vec<LegendEntry>, panels: Vec<Panel>) -> Figure {
    let columns = if panels.len() > 1 { 2 } else { 1 };
    Figure { name: name.into(), title: title.into(), footer: view::environment_line(r), legend, columns, panels }
}

fn target_legend(r: &Results) -> Vec<LegendEntry> {
    view::with_points(r)
        .into_iter()
        .map(|(i, t)| LegendEntry { label: t.name.clone(), color: view::color(i), style: Mark::Box })
        .collect()
}

fn empty(title: &str) -> Panel {
    Panel::Empty { title: title.into(), message: NOT_MEASURED.into() }
}

/// Min–max of per-repeat values (None with fewer than two values: no range to show).
/// Positive values spanning more than 10x (largest ÷ smallest), which a linear axis would
/// flatten at its bottom (docs/metrics.md, "Charts"): such an axis is drawn log-scaled.
pub fn spans_decade(values: impl IntoIterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    hi > 10.0 * lo
}

fn range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.into_iter().collect();
    if v.len() < 2 {
        return None;
    }
    stats::summarize(&v).map(|s| (s.min, s.max))
}

/// Distinct keys of a workload's points across targets, closed loop first by connections,
/// then open loop by rate.
fn keys(r: &Results, workload: Workload, filter: impl Fn(&Point) -> bool) -> Vec<PointKey> {
    let mut ks: Vec<(bool, f64, usize, PointKey)> = Vec::new();
    for t in &r.targets {
        for p in view::points_of(t, workload).filter(|p| filter(p)) {
            let k = PointKey::of(p);
            if !ks.iter().any(|e| e.3 == k) {
                ks.push((p.mode == PointMode::Open, p.rate_rps.unwrap_or(0.0), p.connections, k));
            }
        }
    }
    ks.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)).then(a.1.total_cmp(&b.1)));
    ks.into_iter().map(|e| e.3).collect()
}

/// Grouped bars: one group per key, one series per target.
fn bar_panel(
    r: &Results,
    title: String,
    y_label: &str,
    keys: &[PointKey],
    bar: impl Fn(&TargetResult, &Point) -> Option<Bar>,
) -> Panel {
    let targets = view::with_points(r);
    let series: Vec<BarSeries> = targets
        .iter()
        .map(|(i, t)| BarSeries {
            color: view::color(*i),
            bars: keys.iter().map(|k| view::find(t, k).and_then(|p| bar(t, p))).collect(),
        })
        .collect();
    if series.iter().all(|s| s.bars.iter().all(Option::is_none)) {
        return empty(&title);
    }
    Panel::Bars(BarPanel {
        y_log: false,
        title,
        y_label: y_label.into(),
        groups: keys.iter().map(PointKey::setting).collect(),
        series,
    })
}

fn throughput(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let ks = keys(r, w, |p| p.mode == PointMode::Closed);
        if ks.is_empty() {
            continue;
        }
        panels.push(bar_panel(r, w.name().to_owned(), "responses/s", &ks, |_, p| {
            let s = &p.summary.throughput_rps;
            Some(Bar {
                value: s.median,
                range: (p.repeats.len() >= 2).then_some((s.ci95_low.max(0.0), s.ci95_high)),
                flagged: !p.summary.flags.is_empty(),
            })
        }));
    }
    if panels.is_empty() {
        panels.push(empty("throughput"));
    }
    Chart {
        figure: figure(r, "throughput", "Throughput per workload (closed loop)", target_legend(r), panels),
        caption: "Median responses per second over the repeats of each closed-loop point, one bar per target; \
                  the whisker is the 95% confidence interval of the mean over repeats (wide when there are few \
                  repeats), and a * after the value marks a flagged point (see the table). Taller is better; \
                  compare bars within a panel only."
            .into(),
    }
}

/// Spectrum x positions: 1/(1−p) for p50, p90, p99, p99.9, and the maximum drawn at 10^4.
const SPECTRUM: [(f64, &str); 5] = [(2.0, "50%"), (10.0, "90%"), (100.0, "99%"), (1000.0, "99.9%"), (10000.0, "max")];

/// The spectrum's values; `None` for a percentile too few samples give.
fn spectrum_values(l: &Latency) -> [Option<f64>; 5] {
    let f = |v: Option<u64>| v.map(|v| v as f64);
    [Some(l.p50 as f64), f(l.p90), f(l.p99), f(l.p999), Some(l.max as f64)]
}

/// µs, or ms when the values are large.
fn time_unit(max_us: f64) -> (f64, &'static str) {
    if max_us >= 20_000.0 { (1e3, "ms") } else { (1.0, "µs") }
}

fn latency_spectrum(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let Some(key) = view::headline_key(r, w) else { continue };
        // Only points that kept up; each line ends before its first percentile among failures.
        let found: Vec<(usize, &Point)> = view::with_points(r)
            .into_iter()
            .filter_map(|(i, t)| view::find(t, &key).filter(|p| view::kept_up(p)).map(|p| (i, p)))
            .collect();
        // (position, value) of each given percentile, up to the first among failures.
        let answered = |l: &Latency| -> Vec<(usize, f64)> {
            spectrum_values(l)
                .into_iter()
                .enumerate()
                .filter_map(|(j, v)| v.map(|v| (j, v)))
                .take_while(|&(_, v)| !Latency::is_failure(v as u64))
                .collect()
        };
        let top = found.iter().flat_map(|(_, p)| answered(&p.summary.latency_us)).map(|(_, v)| v).fold(0.0, f64::max);
        if top <= 0.0 {
            continue;
        }
        let (div, unit) = time_unit(top);
        let lines = found
            .iter()
            .map(|(i, p)| {
                let merged = answered(&p.summary.latency_us);
                let per_repeat: Vec<[Option<f64>; 5]> =
                    p.repeats.iter().map(|rp| spectrum_values(&rp.latency_us)).collect();
                Line {
                    color: view::color(*i),
                    dashed: false,
                    points: merged
                        .iter()
                        .map(|&(j, v)| LinePoint {
                            x: SPECTRUM[j].0,
                            y: v / div,
                            range: range(
                                per_repeat
                                    .iter()
                                    .filter_map(|v| v[j])
                                    .filter(|&v| !Latency::is_failure(v as u64))
                                    .map(|v| v / div),
                            ),
                        })
                        .collect(),
                }
            })
            .collect();
        panels.push(Panel::Lines(LinePanel {
            title: key.label(),
            x_label: "percentile (log scale of 1/(1−p))".into(),
            y_label: format!("latency ({unit}, log scale)"),
            x_log: true,
            x_ticks: Some(SPECTRUM.iter().map(|(x, l)| (*x, (*l).to_owned())).collect()),
            x_min: Some(1.5),
            x_max: Some(14000.0),
            y_log: true,
            y_min: None,
            y_max: None,
            x_dodge: false,
            lines,
        }));
    }
    if panels.is_empty() {
        panels.push(empty("latency spectrum"));
    }
    Chart {
        figure: figure(r, "latency-spectrum", "Latency percentile spectrum per workload", target_legend(r), panels),
        caption: "Latency at the 50th, 90th, 99th and 99.9th percentiles and the maximum (drawn at the right edge; \
                  it is not a percentile), for the point that stands for each workload (the highest common \
                  open-loop rate, else the closed-loop point with most connections). The x axis spreads the \
                  tail on a log scale of 1/(1−p); whiskers span the repeats' own percentiles. Lower is better; \
                  a line that climbs steeply to the right has a heavy tail. A target flagged `overloaded` at \
                  that point is left out (its percentiles are queue growth), and a line ends before a \
                  percentile that falls among failed requests (\"> timeout\" in the tables)."
            .into(),
    }
}

fn latency_vs_load(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let targets = view::with_points(r);
        let open: Vec<(usize, Vec<&Point>)> = targets
            .iter()
            .map(|(i, t)| {
                // Points that kept up, with a p99 among answers: an overloaded point's latency
                // is queue growth, not a figure on this scale.
                let mut ps: Vec<&Point> = view::points_of(t, w)
                    .filter(|p| p.mode == PointMode::Open && p.rate_rps.is_some() && view::kept_up(p))
                    .filter(|p| p.summary.latency_us.p99.is_some_and(|v| !Latency::is_failure(v)))
                    .collect();
                ps.sort_by(|a, b| a.rate_rps.unwrap_or(0.0).total_cmp(&b.rate_rps.unwrap_or(0.0)));
                (*i, ps)
            })
            .filter(|(_, ps)| !ps.is_empty())
            .collect();
        if open.is_empty() {
            continue;
        }
        let top =
            open.iter().flat_map(|(_, ps)| ps.iter().filter_map(|p| p.summary.latency_us.p99)).fold(0, u64::max) as f64;
        let (div, unit) = time_unit(top);
        let mut lines = Vec::new();
        for (i, ps) in &open {
            let line = |pick: fn(&Latency) -> Option<u64>, dashed: bool| Line {
                color: view::color(*i),
                dashed,
                points: ps
                    .iter()
                    .filter_map(|p| {
                        Some(LinePoint {
                            x: p.rate_rps.unwrap_or(0.0),
                            y: pick(&p.summary.latency_us)? as f64 / div,
                            range: range(
                                p.repeats.iter().filter_map(|rp| pick(&rp.latency_us)).map(|v| v as f64 / div),
                            ),
                        })
                    })
                    .collect(),
            };
            lines.push(line(|l| l.p99, false));
            lines.push(line(|l| Some(l.p50), true));
        }
        // Rates from 250/s to a Rust target's 0.5 × max, latencies from sub-ms to seconds:
        // log axes where the values span more than 10x, so no line is flattened at the floor.
        let x_log = spans_decade(lines.iter().flat_map(|l: &Line| l.points.iter().map(|q| q.x)));
        let y_log = spans_decade(lines.iter().flat_map(|l: &Line| l.points.iter().map(|q| q.y)));
        let log = |on: bool| if on { ", log scale" } else { "" };
        panels.push(Panel::Lines(LinePanel {
            title: format!("{w}, open loop"),
            x_label: format!("offered load (requests/s{})", log(x_log)),
            y_label: format!("latency ({unit}{})", log(y_log)),
            x_log,
            x_ticks: None,
            x_min: (!x_log).then_some(0.0),
            x_max: None,
            y_log,
            y_min: None,
            y_max: None,
            x_dodge: false,
            lines,
        }));
    }
    if panels.is_empty() {
        panels.push(empty("latency against offered load"));
    }
    let mut legend = target_legend(r);
    legend.push(LegendEntry { label: "p99".into(), color: RGBColor(60, 60, 60), style: Mark::Line });
    legend.push(LegendEntry { label: "p50".into(), color: RGBColor(60, 60, 60), style: Mark::Dashed });
    Chart {
        figure: figure(r, "latency-vs-load", "Latency against offered load (open loop)", legend, panels),
        caption: "p99 (solid) and p50 (dashed) latency of each open-loop point, measured from the scheduled send \
                  time so queueing counts, against the offered rate; whiskers span the repeats. A line that \
                  stays flat as load rises has headroom; where it turns up, the target is saturating. Points \
                  flagged `overloaded` are not drawn: a line ends at the last rate its target kept up with."
            .into(),
    }
}

fn cpu_per_request(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let ks = keys(r, w, |p| p.summary.cpu_us_per_request.is_some());
        if ks.is_empty() {
            continue;
        }
        panels.push(bar_panel(r, w.name().to_owned(), "server CPU-µs per response", &ks, |_, p| {
            p.summary.cpu_us_per_request.map(|v| Bar {
                value: v,
                range: range(p.repeats.iter().filter_map(|rp| rp.cpu_us_per_request)),
                flagged: !p.summary.flags.is_empty(),
            })
        }));
    }
    if panels.is_empty() {
        panels.push(empty("server CPU per request"));
    }
    Chart {
        figure: figure(r, "cpu-per-request", "Server CPU time per response", target_legend(r), panels),
        caption: "Server CPU time (user + system, all threads) per response, median over repeats, with the \
                  repeats' min–max as whiskers. Lower is cheaper; this resists a busy shared machine better \
                  than throughput does."
            .into(),
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn idle_rss(t: &TargetResult) -> Option<u64> {
    t.cost.as_ref().and_then(|c| c.idle_rss_bytes).or(t.idle_rss_bytes)
}

fn memory(r: &Results) -> Chart {
    let targets = view::with_points(r);
    let single = |title: &str, unit: f64, y_label: &str, get: &dyn Fn(&TargetResult) -> Option<f64>| -> Panel {
        let series: Vec<BarSeries> = targets
            .iter()
            .map(|(i, t)| BarSeries {
                color: view::color(*i),
                bars: vec![get(t).map(|v| Bar { value: v / unit, range: None, flagged: false })],
            })
            .collect();
        if series.iter().all(|s| s.bars[0].is_none()) {
            return empty(title);
        }
        Panel::Bars(BarPanel {
            y_log: false,
            title: title.into(),
            y_label: y_label.into(),
            groups: vec![String::new()],
            series,
        })
    };
    let idle = single("idle RSS (after readiness, before load)", MIB, "MiB", &|t| idle_rss(t).map(|b| b as f64));
    // Peak per workload: the largest over the workload's points, whiskers over that point's repeats.
    let workloads = view::workloads(r);
    let peak_series: Vec<BarSeries> = targets
        .iter()
        .map(|(i, t)| BarSeries {
            color: view::color(*i),
            bars: workloads
                .iter()
                .map(|w| {
                    let p = view::points_of(t, *w)
                        .filter(|p| p.summary.rss_peak_bytes.is_some())
                        .max_by_key(|p| p.summary.rss_peak_bytes)?;
                    Some(Bar {
                        value: p.summary.rss_peak_bytes? as f64 / MIB,
                        range: range(p.repeats.iter().filter_map(|rp| rp.rss_peak_bytes.map(|b| b as f64 / MIB))),
                        flagged: false,
                    })
                })
                .collect(),
        })
        .collect();
    let peak = if peak_series.iter().all(|s| s.bars.iter().all(Option::is_none)) {
        empty("peak RSS per workload")
    } else {
        Panel::Bars(BarPanel {
            y_log: false,
            title: "peak RSS per workload".into(),
            y_label: "MiB".into(),
            groups: workloads.iter().map(|w| w.name().to_owned()).collect(),
            series: peak_series,
        })
    };
    let inflight = single("bytes per in-flight request (infer-io fit)", 1024.0, "KiB", &|t| {
        t.memory.as_ref().and_then(|m| m.bytes_per_inflight_request.as_ref()).map(|f| f.slope_bytes)
    });
    let stream = single("bytes per open stream (generate fit)", 1024.0, "KiB", &|t| {
        t.memory.as_ref().and_then(|m| m.bytes_per_open_stream.as_ref()).map(|f| f.slope_bytes)
    });
    Chart {
        figure: figure(r, "memory", "Memory", target_legend(r), vec![idle, peak, inflight, stream]),
        caption: "Memory of the server's process tree: resident (RSS) at idle and at its peak under each \
                  workload (whiskers: min–max over the repeats of the heaviest point), and the slope of a \
                  least-squares line of mean PSS (shared pages counted once) against the concurrency the \
                  server held, across its levels, i.e. what one more in-flight request or open stream \
                  costs (its r² is in the memory table). Lower is better."
            .into(),
    }
}

/// Streaming percentiles: TTFT in ms, ITL jitter in µs, each with repeat ranges.
fn streaming(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for key in keys(r, Workload::Generate, |p| p.summary.streaming.is_some()) {
        let targets = view::with_points(r);
        let found: Vec<(usize, &Point)> =
            targets.iter().filter_map(|(i, t)| view::find(t, &key).map(|p| (*i, p))).collect();
        let stream_repeats = |p: &Point| -> Vec<crate::results::StreamRepeat> {
            p.repeats.iter().filter_map(|rp: &Repeat| rp.streaming.clone()).collect()
        };
        let ttft_groups = ["p50", "p90", "p99", "p99.9"];
        let pick = |l: &Latency, j: usize| [Some(l.p50), l.p90, l.p99, l.p999][j].map(|v| v as f64);
        let ttft = BarPanel {
            y_log: false,
            title: format!("time to first token, {}", key.setting()),
            y_label: "TTFT (ms)".into(),
            groups: ttft_groups.iter().map(|s| (*s).to_owned()).collect(),
            series: found
                .iter()
                .map(|(i, p)| {
                    let s = p.summary.streaming.as_ref();
                    let reps = stream_repeats(p);
                    BarSeries {
                        color: view::color(*i),
                        bars: (0..4)
                            .map(|j| {
                                s.and_then(|s| pick(&s.ttft_us, j)).map(|v| Bar {
                                    value: v / 1e3,
                                    range: range(reps.iter().filter_map(|rp| pick(&rp.ttft_us, j)).map(|v| v / 1e3)),
                                    flagged: !p.summary.flags.is_empty(),
                                })
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        let jitter = BarPanel {
            y_log: false,
            title: format!("inter-token bias (p50 − token delay) and jitter (spread over p50), {}", key.setting()),
            y_label: "µs".into(),
            groups: vec!["p50 − delay".into(), "p99 − p50".into(), "p99.9 − p50".into()],
            series: found
                .iter()
                .map(|(i, p)| {
                    let s = p.summary.streaming.as_ref();
                    let reps = stream_repeats(p);
                    let delay = s.map_or(0, |s| s.token_delay_ms);
                    let itl = |l: &Latency, j: usize| view::itl_bias_and_spread(l, delay)[j];
                    BarSeries {
                        color: view::color(*i),
                        bars: (0..3)
                            .map(|j| {
                                s.and_then(|s| itl(&s.itl_us, j)).map(|value| Bar {
                                    value,
                                    range: range(reps.iter().filter_map(|rp| itl(&rp.itl_us, j))),
                                    flagged: !p.summary.flags.is_empty(),
                                })
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        panels.push(Panel::Bars(ttft));
        panels.push(Panel::Bars(jitter));
    }
    if panels.is_empty() {
        panels.push(empty("streaming (generate)"));
    }
    Chart {
        figure: figure(
            r,
            "streaming",
            "Streaming: time to first token, inter-token bias and jitter",
            target_legend(r),
            panels,
        ),
        caption: "For each generate point: TTFT percentiles (from sending the request to the first token event); \
                  the inter-token latency's bias (its p50 minus the configured token delay: how far the median \
                  gap is from the simulated decode pace) and its jitter (p99 and p99.9 minus p50: how unsteady \
                  the gaps are); whiskers span the repeats. Lower is better; near zero means the framework \
                  keeps the pace, steadily."
            .into(),
    }
}

fn inflight(r: &Results) -> Chart {
    let (eff_lines, rss_lines) = inflight_lines(r);
    // The sweep's levels, as ticks: the x axis is log-scaled but only these were measured.
    let mut levels: Vec<f64> = eff_lines.iter().flat_map(|l| l.points.iter().map(|q| q.x)).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let ticks: Vec<(f64, String)> = levels.iter().map(|x| (*x, format!("{x:.0}"))).collect();
    let (x_min, x_max) = (levels.first().map(|x| x / 1.6), levels.last().map(|x| x * 1.6));
    let eff_fit = efficiency_range(&eff_lines);
    let panel = |title: &str, y: &str, lines: Vec<Line>, y_range: Option<(f64, f64)>| {
        if lines.is_empty() {
            empty(title)
        } else {
            Panel::Lines(LinePanel {
                title: title.into(),
                x_label: "requests in flight (log scale)".into(),
                y_label: y.into(),
                x_log: true,
                x_ticks: Some(ticks.clone()),
                x_min,
                x_max,
                y_log: false,
                y_min: y_range.map(|r| r.0),
                y_max: y_range.map(|r| r.1),
                x_dodge: true,
                lines,
            })
        }
    };
    let panels = vec![
        panel("efficiency: throughput ÷ (in flight ÷ latency)", "efficiency (%)", eff_lines, eff_fit),
        panel("mean PSS while in flight", "mean PSS (MiB)", rss_lines, None),
    ];
    let axis_note = match eff_fit {
        Some((lo, _)) => format!(
            " The efficiency axis starts at {lo:.0}%, not at 0, because every value and whisker lies above {:.0}%; \
             read small gaps there as small.",
            lo + 1.0
        ),
        None => String::new(),
    };
    Chart {
        figure: figure(r, "inflight", "In-flight sweep (infer-io: slow I/O-bound inference)", target_legend(r), panels),
        caption: format!(
            "Each infer-io request waits a fixed time on the server without using CPU; with N requests in \
             flight a perfect server answers N ÷ latency per second. Left: the share of that ideal reached \
             (100% is perfect; whiskers span the repeats). Right: mean PSS of the server's tree at each \
             level (RSS in files without PSS); the memory cost per in-flight request is fitted over the \
             concurrency the server held (the memory table). Targets' markers are drawn side by side around each \
             measured level (the ticks) so that equal values stay visible; all were measured at the ticked \
             level.{axis_note}"
        ),
    }
}

/// infer-io's lines per target: efficiency over the requests in flight (whiskers over the
/// repeats), and mean PSS (RSS in older files) over the same levels.
fn inflight_lines(r: &Results) -> (Vec<Line>, Vec<Line>) {
    let mut eff_lines = Vec::new();
    let mut rss_lines = Vec::new();
    for (i, t) in &view::with_points(r) {
        let mut ps: Vec<&Point> =
            view::points_of(t, Workload::InferIo).filter(|p| p.summary.inflight.is_some()).collect();
        ps.sort_by_key(|p| p.connections);
        if ps.is_empty() {
            continue;
        }
        eff_lines.push(Line {
            color: view::color(*i),
            dashed: false,
            points: ps
                .iter()
                .filter_map(|p| {
                    let inf = p.summary.inflight.as_ref()?;
                    Some(LinePoint {
                        x: p.connections as f64,
                        y: inf.efficiency_pct,
                        range: (inf.ideal_rps > 0.0)
                            .then(|| range(p.repeats.iter().map(|rp| 100.0 * rp.throughput_rps / inf.ideal_rps)))
                            .flatten(),
                    })
                })
                .collect(),
        });
        let rss: Vec<LinePoint> = ps
            .iter()
            .filter_map(|p| {
                let pss = p.summary.pss_mean_bytes.is_some();
                let of = |rp: &crate::results::Repeat| if pss { rp.pss_mean_bytes } else { rp.rss_mean_bytes };
                Some(LinePoint {
                    x: p.connections as f64,
                    y: p.summary.pss_mean_bytes.or(p.summary.rss_mean_bytes)? as f64 / MIB,
                    range: range(p.repeats.iter().filter_map(|rp| of(rp).map(|b| b as f64 / MIB))),
                })
            })
            .collect();
        if !rss.is_empty() {
            rss_lines.push(Line { color: view::color(*i), dashed: false, points: rss });
        }
    }
    (eff_lines, rss_lines)
}

/// A y range fitted to the efficiency data when every value (whiskers included) is high, so
/// that lines near 100% separate; `None` (the axis starts at 0) otherwise. The lower end is
/// a multiple of 5 at least 1 below the lowest value; the upper end clears the highest.
fn efficiency_range(lines: &[Line]) -> Option<(f64, f64)> {
    let values = lines.iter().flat_map(|l| l.points.iter()).flat_map(|q| {
        let (a, z) = q.range.unwrap_or((q.y, q.y));
        [q.y, a, z]
    });
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || lo < 80.0 {
        return None;
    }
    let y_min = ((lo - 1.0) / 5.0).floor() * 5.0;
    Some((y_min, hi.max(100.0) + (hi.max(100.0) - y_min) * 0.08))
}

/// Colours of the loaded probe bars, light to dark with concurrency (then repeating); idle is
/// grey. Sequential, so "more concurrent" reads as "darker" without the legend.
const LOAD_SHADES: [RGBColor; 4] =
    [RGBColor(253, 174, 97), RGBColor(230, 120, 50), RGBColor(190, 70, 30), RGBColor(127, 39, 4)];
const IDLE_GREY: RGBColor = RGBColor(170, 170, 170);
const AWAKE_GREY: RGBColor = RGBColor(110, 110, 110);

fn probe(r: &Results) -> Chart {
    let targets: Vec<(&TargetResult, Vec<&Point>)> = view::with_points(r)
        .into_iter()
        .map(|(_, t)| {
            (t, view::points_of(t, Workload::InferCpu).filter(|p| p.summary.probe.is_some()).collect::<Vec<_>>())
        })
        .filter(|(_, ps)| !ps.is_empty())
        .collect();
    let mut levels: Vec<usize> = targets.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.connections)).collect();
    levels.sort_unstable();
    levels.dedup();
    let groups: Vec<String> = targets.iter().map(|(t, _)| t.name.clone()).collect();
    type Quantile = fn(&Latency) -> Option<u64>;
    // The tail panel shows p99 where every probe figure has the samples for it (1,000),
    // else p90 (100; docs/metrics.md, "Percentiles and samples").
    let all_probes = || targets.iter().flat_map(|(_, ps)| ps.iter().filter_map(|p| p.summary.probe.as_ref()));
    let has_p99 = all_probes().all(|pr| pr.loaded_us.p99.is_some() && pr.idle_us.p99.is_some());
    let tail: (&str, Quantile) = if has_p99 { ("p99", |l| l.p99) } else { ("p90", |l| l.p90) };
    let quantiles: [(&str, Quantile); 2] = [("p50", |l| Some(l.p50)), tail];
    let has_awake = all_probes().any(|pr| pr.awake_us.is_some());
    let ms = |v: Option<u64>, flagged: bool| v.map(|v| Bar { value: v as f64 / 1e3, range: None, flagged });
    let panels: Vec<Panel> = if targets.is_empty() {
        vec![empty("probe latency p50"), empty("probe latency tail")]
    } else {
        quantiles
            .iter()
            .map(|(q, pick)| {
                // The idle baseline is measured once per target, before its CPU points
                // (docs/metrics.md, "Event-loop probe"); every point carries the same copy.
                let idle = BarSeries {
                    color: IDLE_GREY,
                    bars: targets
                        .iter()
                        .map(|(_, ps)| ms(pick(&ps[0].summary.probe.as_ref()?.idle_us), false))
                        .collect(),
                };
                let mut series = vec![idle];
                if has_awake {
                    series.push(BarSeries {
                        color: AWAKE_GREY,
                        bars: targets
                            .iter()
                            .map(|(_, ps)| ms(pick(ps[0].summary.probe.as_ref()?.awake_us.as_ref()?), false))
                            .collect(),
                    });
                }
                series.extend(levels.iter().enumerate().map(|(j, c)| {
                    BarSeries {
                        color: LOAD_SHADES[j % LOAD_SHADES.len()],
                        bars: targets
                            .iter()
                            .map(|(_, ps)| {
                                let p = ps.iter().find(|p| p.connections == *c)?;
                                let pr = p.summary.probe.as_ref()?;
                                ms(pick(&pr.loaded_us), pr.probe_errors > 0)
                            })
                            .collect(),
                    }
                }));
                let y_log = spans_decade(series.iter().flat_map(|s| s.bars.iter().flatten().map(|b| b.value)));
                Panel::Bars(BarPanel {
                    y_log,
                    title: format!("/health probe latency {q}"),
                    y_label: if y_log { "latency (ms, log scale)".into() } else { "latency (ms)".into() },
                    groups: groups.clone(),
                    series,
                })
            })
            .collect()
    };
    let mut legend = vec![LegendEntry { label: "idle (no other load)".into(), color: IDLE_GREY, style: Mark::Box }];
    if has_awake {
        legend.push(LegendEntry { label: "idle, CPUs kept awake".into(), color: AWAKE_GREY, style: Mark::Box });
    }
    legend.extend(levels.iter().enumerate().map(|(j, c)| LegendEntry {
        label: format!("{c} CPU-bound request{} in flight", if *c == 1 { "" } else { "s" }),
        color: LOAD_SHADES[j % LOAD_SHADES.len()],
        style: Mark::Box,
    }));
    let mut figure =
        figure(r, "probe", "Event-loop probe: /health latency under CPU load against idle", legend, panels);
    figure.columns = 1;
    Chart {
        figure,
        caption: "Latency of a light open-loop /health probe while CPU-bound infer-cpu requests run at each \
                  concurrency (orange, darker = more requests in flight), beside the same probe on the idle \
                  server (light grey) and on the idle server with every CPU kept awake (dark grey: a SCHED_IDLE \
                  spinner spares the wake-up of an idle vCPU, as load does, so this is the floor to compare the \
                  orange bars with), one group per target. A framework that runs CPU work off its event loop \
                  keeps the orange bars close to the dark grey one; tall orange bars mean the CPU work blocks \
                  other requests. The tail panel is p99 where every figure has 1,000 samples, else p90. The \
                  probe is one merged histogram per point, so these bars have no whiskers; a * marks probe errors."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficiency_axis_is_fitted_only_when_every_value_is_high() {
        let line = |ys: &[f64], range: Option<(f64, f64)>| Line {
            color: RGBColor(0, 0, 0),
            dashed: false,
            points: ys.iter().map(|&y| LinePoint { x: 10.0, y, range }).collect(),
        };
        let (lo, hi) = efficiency_range(&[line(&[99.9, 100.0], None), line(&[99.2], Some((98.7, 99.6)))]).unwrap();
        assert_eq!(lo, 95.0);
        assert!(hi > 100.0 && hi < 101.0, "{hi}");
        assert!(efficiency_range(&[line(&[99.0], Some((79.0, 99.5)))]).is_none(), "a low whisker keeps the axis at 0");
        assert!(efficiency_range(&[line(&[40.0, 100.0], None)]).is_none());
        assert!(efficiency_range(&[]).is_none());
    }

    #[test]
    fn example_run_has_data_for_its_workloads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example-quick/results.json");
        let r: Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let charts = all(&r);
        let names: Vec<&str> = charts.iter().map(|c| c.figure.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "throughput",
                "latency-spectrum",
                "latency-vs-load",
                "cpu-per-request",
                "memory",
                "streaming",
                "inflight",
                "probe",
                "gateway-overhead"
            ]
        );
        for c in &charts[..6] {
            assert!(c.figure.has_data(), "{} should have data", c.figure.name);
        }
        // The quick example predates infer-io and infer-cpu.
        assert!(!charts[6].figure.has_data() && !charts[7].figure.has_data());
        // Nor did it measure a gateway.
        assert!(!charts[8].figure.has_data());
    }

    #[test]
    fn a_decade_of_values_asks_for_a_log_axis() {
        assert!(spans_decade([0.3, 5.0]) && spans_decade([2.0, 20.1]));
        assert!(!spans_decade([1.0, 9.0]) && !spans_decade([0.0, 5.0]) && !spans_decade(std::iter::empty()));
    }

    /// Issue 15, item 9: with linear axes the Rust lines of latency against load, and the
    /// idle probe bars, sat flat at the floor under the Python ones. In the committed
    /// example both span more than a decade, so both are log-scaled.
    #[test]
    fn latency_against_load_and_the_probe_are_log_scaled_on_the_example() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
        let r: Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let (vs_load, probe_chart) = (latency_vs_load(&r), probe(&r));
        let lines: Vec<&LinePanel> =
            vs_load.figure.panels.iter().filter_map(|p| if let Panel::Lines(l) = p { Some(l) } else { None }).collect();
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| l.x_log && l.y_log && l.y_label.contains("log")), "{lines:?}");
        let bars: Vec<&BarPanel> = probe_chart
            .figure
            .panels
            .iter()
            .filter_map(|p| if let Panel::Bars(b) = p { Some(b) } else { None })
            .collect();
        assert_eq!(bars.len(), 2);
        assert!(bars.iter().all(|b| b.y_log), "{bars:?}");
    }
}

/// What each gateway adds to TTFT and E2EL over its upstream asked straight, per closed-loop
/// chat point (`analysis::gateway_overheads`): the paired difference of the medians, with
/// its 95% interval over rounds as the whisker.
fn gateway_overhead(r: &Results) -> Chart {
    let rows = crate::analysis::gateway_overheads(&r.targets);
    let targets: Vec<(usize, &TargetResult)> =
        view::with_points(r).into_iter().filter(|(_, t)| rows.iter().any(|o| o.target == t.name)).collect();
    let mut groups: Vec<crate::results::PointKey> = Vec::new();
    for o in &rows {
        if !groups.contains(&o.key) {
            groups.push(o.key.clone());
        }
    }
    groups.sort_by_key(|k| k.connections);
    type Pick = fn(&crate::analysis::GatewayOverhead) -> Option<crate::analysis::PairedDiff>;
    let panel = |title: &str, pick: Pick| -> Panel {
        let series: Vec<BarSeries> = targets
            .iter()
            .map(|(i, t)| BarSeries {
                color: view::color(*i),
                bars: groups
                    .iter()
                    .map(|k| {
                        let o = rows.iter().find(|o| o.target == t.name && &o.key == k)?;
                        let d = pick(o)?;
                        Some(Bar {
                            value: d.diff / 1e3,
                            range: Some((d.ci95_low / 1e3, d.ci95_high / 1e3)),
                            flagged: !o.flags.is_empty(),
                        })
                    })
                    .collect(),
            })
            .collect();
        if series.iter().all(|s| s.bars.iter().all(Option::is_none)) {
            return empty(title);
        }
        Panel::Bars(BarPanel {
            y_log: false,
            title: title.into(),
            y_label: "ms over direct".into(),
            groups: groups.iter().map(|k| k.setting()).collect(),
            series,
        })
    };
    let panels = vec![
        panel("TTFT p50: gateway − direct", |o| o.ttft_p50_us),
        panel("E2EL p50: gateway − direct", |o| o.e2el_p50_us),
    ];
    let legend = targets
        .iter()
        .map(|(i, t)| LegendEntry { label: t.name.clone(), color: view::color(*i), style: Mark::Box })
        .collect();
    Chart {
        figure: figure(
            r,
            "gateway-overhead",
            "LLM gateway: latency added over the upstream asked straight",
            legend,
            panels,
        ),
        caption: "What each target adds as a gateway: its median time to first token and median end-to-end latency \
                  minus those of its mock upstream asked straight (upstream-direct), at the same closed-loop point \
                  in the same rounds, in ms; the whisker is the 95% interval of the mean of the per-round \
                  differences, and a * marks a flagged point. Lower is better; the \"LLM gateway\" table gives the \
                  p99s, the CPU per token and the memory per open stream."
            .into(),
    }
}
