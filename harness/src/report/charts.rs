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
use crate::results::{Latency, Point, Repeat, Results, TargetResult};
use crate::stats;

/// A figure and the sentence that says what it shows and how to read it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub figure: Figure,
    pub caption: String,
}

/// Every chart, in report order. File stems are stable: `throughput`, `latency-spectrum`,
/// `latency-vs-load`, `cpu-per-request`, `memory`, `streaming`, `inflight`, `probe`.
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
fn range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.into_iter().collect();
    if v.len() < 2 {
        return None;
    }
    stats::summarize(&v).map(|s| (s.min, s.max))
}

/// Distinct keys of a workload's points across targets, closed loop first by connections,
/// then open loop by rate.
fn keys(r: &Results, workload: &str, filter: impl Fn(&Point) -> bool) -> Vec<PointKey> {
    let mut ks: Vec<(bool, f64, usize, PointKey)> = Vec::new();
    for t in &r.targets {
        for p in view::points_of(t, workload).filter(|p| filter(p)) {
            let k = PointKey::of(p);
            if !ks.iter().any(|e| e.3 == k) {
                ks.push((p.mode == "open", p.rate_rps.unwrap_or(0.0), p.connections, k));
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
        title,
        y_label: y_label.into(),
        groups: keys.iter().map(PointKey::setting).collect(),
        series,
    })
}

fn throughput(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let ks = keys(r, &w, |p| p.mode == "closed");
        if ks.is_empty() {
            continue;
        }
        panels.push(bar_panel(r, w.clone(), "responses/s", &ks, |_, p| {
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

fn spectrum_values(l: &Latency) -> [f64; 5] {
    [l.p50 as f64, l.p90 as f64, l.p99 as f64, l.p999 as f64, l.max as f64]
}

/// µs, or ms when the values are large.
fn time_unit(max_us: f64) -> (f64, &'static str) {
    if max_us >= 20_000.0 { (1e3, "ms") } else { (1.0, "µs") }
}

fn latency_spectrum(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let Some(key) = view::headline_key(r, &w) else { continue };
        let found: Vec<(usize, &Point)> =
            view::with_points(r).into_iter().filter_map(|(i, t)| view::find(t, &key).map(|p| (i, p))).collect();
        let top = found.iter().map(|(_, p)| p.summary.latency_us.max as f64).fold(0.0, f64::max);
        if top <= 0.0 {
            continue;
        }
        let (div, unit) = time_unit(top);
        let lines = found
            .iter()
            .map(|(i, p)| {
                let merged = spectrum_values(&p.summary.latency_us);
                let per_repeat: Vec<[f64; 5]> = p.repeats.iter().map(|rp| spectrum_values(&rp.latency_us)).collect();
                Line {
                    color: view::color(*i),
                    dashed: false,
                    points: (0..5)
                        .map(|j| LinePoint {
                            x: SPECTRUM[j].0,
                            y: merged[j] / div,
                            range: range(per_repeat.iter().map(|v| v[j] / div)),
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
                  a line that climbs steeply to the right has a heavy tail."
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
                let mut ps: Vec<&Point> =
                    view::points_of(t, &w).filter(|p| p.mode == "open" && p.rate_rps.is_some()).collect();
                ps.sort_by(|a, b| a.rate_rps.unwrap_or(0.0).total_cmp(&b.rate_rps.unwrap_or(0.0)));
                (*i, ps)
            })
            .filter(|(_, ps)| !ps.is_empty())
            .collect();
        if open.is_empty() {
            continue;
        }
        let top = open.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.summary.latency_us.p99 as f64)).fold(0.0, f64::max);
        let (div, unit) = time_unit(top);
        let mut lines = Vec::new();
        for (i, ps) in &open {
            let line = |pick: fn(&Latency) -> u64, dashed: bool| Line {
                color: view::color(*i),
                dashed,
                points: ps
                    .iter()
                    .map(|p| LinePoint {
                        x: p.rate_rps.unwrap_or(0.0),
                        y: pick(&p.summary.latency_us) as f64 / div,
                        range: range(p.repeats.iter().map(|rp| pick(&rp.latency_us) as f64 / div)),
                    })
                    .collect(),
            };
            lines.push(line(|l| l.p99, false));
            lines.push(line(|l| l.p50, true));
        }
        panels.push(Panel::Lines(LinePanel {
            title: format!("{w}, open loop"),
            x_label: "offered load (requests/s)".into(),
            y_label: format!("latency ({unit})"),
            x_log: false,
            x_ticks: None,
            x_min: Some(0.0),
            x_max: None,
            y_log: false,
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
                  stays flat as load rises has headroom; where it turns up, the target is saturating."
            .into(),
    }
}

fn cpu_per_request(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for w in view::workloads(r) {
        let ks = keys(r, &w, |p| p.summary.cpu_us_per_request.is_some());
        if ks.is_empty() {
            continue;
        }
        panels.push(bar_panel(r, w.clone(), "server CPU-µs per response", &ks, |_, p| {
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
        Panel::Bars(BarPanel { title: title.into(), y_label: y_label.into(), groups: vec![String::new()], series })
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
                    let p = view::points_of(t, w).filter(|p| p.summary.rss_peak_bytes.is_some()).max_by_key(|p| p.summary.rss_peak_bytes)?;
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
            title: "peak RSS per workload".into(),
            y_label: "MiB".into(),
            groups: workloads.clone(),
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
        caption: "Resident memory of the server's process tree: at idle, at its peak under each workload \
                  (whiskers: min–max over the repeats of the heaviest point), and the slope of a least-squares \
                  line of mean RSS against concurrency, i.e. what one more in-flight request or open stream \
                  costs (its r² is in the memory table). Lower is better."
            .into(),
    }
}

/// Streaming percentiles: TTFT in ms, ITL jitter in µs, each with repeat ranges.
fn streaming(r: &Results) -> Chart {
    let mut panels = Vec::new();
    for key in keys(r, "generate", |p| p.summary.streaming.is_some()) {
        let targets = view::with_points(r);
        let found: Vec<(usize, &Point)> =
            targets.iter().filter_map(|(i, t)| view::find(t, &key).map(|p| (*i, p))).collect();
        let stream_repeats = |p: &Point| -> Vec<crate::results::StreamRepeat> {
            p.repeats.iter().filter_map(|rp: &Repeat| rp.streaming.clone()).collect()
        };
        let ttft_groups = ["p50", "p90", "p99", "p99.9"];
        let pick = |l: &Latency, j: usize| [l.p50, l.p90, l.p99, l.p999][j] as f64;
        let ttft = BarPanel {
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
                                s.map(|s| Bar {
                                    value: pick(&s.ttft_us, j) / 1e3,
                                    range: range(reps.iter().map(|rp| pick(&rp.ttft_us, j) / 1e3)),
                                    flagged: !p.summary.flags.is_empty(),
                                })
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        let jitter = BarPanel {
            title: format!("inter-token jitter (ITL − token delay), {}", key.setting()),
            y_label: "ITL jitter (µs)".into(),
            groups: vec!["p50".into(), "p99".into(), "p99.9".into()],
            series: found
                .iter()
                .map(|(i, p)| {
                    let s = p.summary.streaming.as_ref();
                    let reps = stream_repeats(p);
                    let delay_us = s.map_or(0.0, |s| s.token_delay_ms as f64 * 1e3);
                    let itl = |l: &Latency, j: usize| [l.p50, l.p99, l.p999][j] as f64 - delay_us;
                    BarSeries {
                        color: view::color(*i),
                        bars: (0..3)
                            .map(|j| {
                                s.map(|s| Bar {
                                    value: [s.itl_jitter_us.p50, s.itl_jitter_us.p99, s.itl_jitter_us.p999][j],
                                    range: range(reps.iter().map(|rp| itl(&rp.itl_us, j))),
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
        figure: figure(r, "streaming", "Streaming: time to first token and inter-token jitter", target_legend(r), panels),
        caption: "For each generate point: TTFT percentiles (from sending the request to the first token event) \
                  and the inter-token latency minus the configured token delay, i.e. how late tokens arrive \
                  beyond the simulated decode pace; whiskers span the repeats. Lower is better; jitter near \
                  zero means the framework keeps the pace."
            .into(),
    }
}

fn inflight(r: &Results) -> Chart {
    let targets = view::with_points(r);
    let mut eff_lines = Vec::new();
    let mut rss_lines = Vec::new();
    for (i, t) in &targets {
        let mut ps: Vec<&Point> = view::points_of(t, "infer-io").filter(|p| p.summary.inflight.is_some()).collect();
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
                Some(LinePoint {
                    x: p.connections as f64,
                    y: p.summary.rss_mean_bytes? as f64 / MIB,
                    range: range(p.repeats.iter().filter_map(|rp| rp.rss_mean_bytes.map(|b| b as f64 / MIB))),
                })
            })
            .collect();
        if !rss.is_empty() {
            rss_lines.push(Line { color: view::color(*i), dashed: false, points: rss });
        }
    }
    let panel = |title: &str, y: &str, lines: Vec<Line>| {
        if lines.is_empty() {
            empty(title)
        } else {
            Panel::Lines(LinePanel {
                title: title.into(),
                x_label: "requests in flight (log scale)".into(),
                y_label: y.into(),
                x_log: true,
                x_ticks: None,
                x_min: None,
                x_max: None,
                y_log: false,
                lines,
            })
        }
    };
    let panels = vec![
        panel("efficiency: throughput ÷ (in flight ÷ latency)", "efficiency (%)", eff_lines),
        panel("mean RSS while in flight", "mean RSS (MiB)", rss_lines),
    ];
    Chart {
        figure: figure(r, "inflight", "In-flight sweep (infer-io: slow I/O-bound inference)", target_legend(r), panels),
        caption: "Each infer-io request waits a fixed time on the server without using CPU; with N requests in \
                  flight a perfect server answers N ÷ latency per second. Left: the share of that ideal \
                  reached (100% is perfect; whiskers span the repeats). Right: mean RSS at each concurrency; \
                  its slope is the memory cost per in-flight request."
            .into(),
    }
}

fn probe(r: &Results) -> Chart {
    let mut groups = Vec::new();
    let mut idle: [Vec<Option<Bar>>; 2] = [Vec::new(), Vec::new()];
    let mut loaded: [Vec<Option<Bar>>; 2] = [Vec::new(), Vec::new()];
    let multi = keys(r, "infer-cpu", |p| p.summary.probe.is_some()).len() > 1;
    for (_, t) in view::with_points(r) {
        let mut ps: Vec<&Point> = view::points_of(t, "infer-cpu").filter(|p| p.summary.probe.is_some()).collect();
        ps.sort_by_key(|p| p.connections);
        for p in ps {
            let Some(pr) = &p.summary.probe else { continue };
            groups.push(if multi { format!("{} c={}", t.name, p.connections) } else { t.name.clone() });
            for (j, pick) in [|l: &Latency| l.p50, |l: &Latency| l.p99].iter().enumerate() {
                let bar = |l: &Latency| Some(Bar { value: pick(l) as f64 / 1e3, range: None, flagged: pr.probe_errors > 0 });
                idle[j].push(bar(&pr.idle_us));
                loaded[j].push(bar(&pr.loaded_us));
            }
        }
    }
    let (idle_c, loaded_c) = (RGBColor(170, 170, 170), RGBColor(204, 102, 51));
    let panels: Vec<Panel> = if groups.is_empty() {
        vec![empty("probe latency p50"), empty("probe latency p99")]
    } else {
        ["p50", "p99"]
            .iter()
            .enumerate()
            .map(|(j, q)| {
                Panel::Bars(BarPanel {
                    title: format!("/health probe latency {q}"),
                    y_label: "latency (ms)".into(),
                    groups: groups.clone(),
                    series: vec![
                        BarSeries { color: idle_c, bars: idle[j].clone() },
                        BarSeries { color: loaded_c, bars: loaded[j].clone() },
                    ],
                })
            })
            .collect()
    };
    let legend = vec![
        LegendEntry { label: "idle (no other load)".into(), color: idle_c, style: Mark::Box },
        LegendEntry { label: "under CPU-bound inference load".into(), color: loaded_c, style: Mark::Box },
    ];
    Chart {
        figure: figure(r, "probe", "Event-loop probe: /health latency under CPU load against idle", legend, panels),
        caption: "Latency of a light open-loop /health probe while CPU-bound infer-cpu requests run, beside the \
                  same probe on an idle server. A framework that runs CPU work off its event loop keeps the two \
                  bars close; a large loaded bar means the CPU work blocks other requests. The probe is one \
                  merged histogram per point, so these bars have no whiskers; a * marks probe errors."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_run_has_data_for_its_workloads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example-quick/results.json");
        let r: Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let charts = all(&r);
        let names: Vec<&str> = charts.iter().map(|c| c.figure.name.as_str()).collect();
        assert_eq!(
            names,
            ["throughput", "latency-spectrum", "latency-vs-load", "cpu-per-request", "memory", "streaming", "inflight", "probe"]
        );
        for c in &charts[..6] {
            assert!(c.figure.has_data(), "{} should have data", c.figure.name);
        }
        // The quick example predates infer-io and infer-cpu.
        assert!(!charts[6].figure.has_data() && !charts[7].figure.has_data());
    }
}
