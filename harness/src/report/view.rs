//! Read-only views over `results.json` that every report output shares: which targets and
//! workloads a run has, which point stands for a workload, how a point is labelled, and how
//! numbers and flags are written. One place, so the HTML, Markdown, CSV and charts agree.

use plotters::style::RGBColor;

use crate::results::{Flag, Latency, Point, PointMode, Results, TargetResult, Workload};

/// Said wherever a figure is absent from the run.
pub const NOT_MEASURED: &str = "not measured in this run";

/// Colour-blind-safe qualitative palette (Paul Tol's "bright" without its grey, then indigo
/// from "muted" and near-black: eight colours that stay apart, for the eight targets), then
/// more of "muted" for runs with more targets; assigned by the target's position in the run.
const PALETTE: [RGBColor; 12] = [
    RGBColor(68, 119, 170),
    RGBColor(238, 102, 119),
    RGBColor(34, 136, 51),
    RGBColor(204, 187, 68),
    RGBColor(102, 204, 238),
    RGBColor(170, 51, 119),
    RGBColor(51, 34, 136),
    RGBColor(34, 34, 34),
    RGBColor(136, 34, 85),
    RGBColor(153, 153, 51),
    RGBColor(68, 170, 153),
    RGBColor(187, 187, 187),
];

pub fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Targets that have points to show (measured, or interrupted while running), with their
/// colour index (position among all targets, so colours stay stable when one is skipped).
pub fn with_points(r: &Results) -> Vec<(usize, &TargetResult)> {
    r.targets.iter().enumerate().filter(|(_, t)| !t.points.is_empty()).collect()
}

/// Whether the run measured no point at all: a `verify --hostile` run, or a run stopped
/// before its first point. Its report leaves out charts and point tables rather than showing
/// them empty.
pub fn measured_nothing(r: &Results) -> bool {
    r.targets.iter().all(|t| t.points.is_empty())
}

/// A `harness verify --hostile` run: its targets are verified, not measured, by design.
pub fn is_verify_run(r: &Results) -> bool {
    r.profile.get("name").and_then(|v| v.as_str()) == Some(crate::results::VERIFY_PROFILE)
}

/// The run measured a point of our contract (not only `chat` against an OpenAI server).
pub fn measured_contract(r: &Results) -> bool {
    r.targets.iter().flat_map(|t| &t.points).any(|p| p.workload.api() == crate::results::Api::Contract)
}

/// Workloads present in the run, in report order ([`Workload::ALL`]).
pub fn workloads(r: &Results) -> Vec<Workload> {
    let mut seen: Vec<Workload> = r.targets.iter().flat_map(|t| t.points.iter().map(|p| p.workload)).collect();
    seen.sort();
    seen.dedup();
    seen
}

pub use crate::results::PointKey;

/// Points of one workload across targets.
pub fn points_of(t: &TargetResult, workload: Workload) -> impl Iterator<Item = &Point> {
    t.points.iter().filter(move |p| p.workload == workload)
}

pub fn find<'a>(t: &'a TargetResult, key: &PointKey) -> Option<&'a Point> {
    t.points.iter().find(|p| PointKey::of(p) == *key)
}

/// The point that stands for a workload when one line or one number per target is shown:
/// the highest *absolute* open-loop rate (the same offered load for every target, free of
/// coordinated omission) when there is one; otherwise the closed-loop point with the most
/// connections. Only keys that every target with the workload has are candidates, so the
/// comparison is like for like.
pub fn headline_key(r: &Results, workload: Workload) -> Option<PointKey> {
    let targets: Vec<&TargetResult> = r.targets.iter().filter(|t| points_of(t, workload).next().is_some()).collect();
    let first = targets.first()?;
    let common: Vec<PointKey> =
        points_of(first, workload).map(PointKey::of).filter(|k| targets.iter().all(|t| find(t, k).is_some())).collect();
    let candidates = if common.is_empty() { points_of(first, workload).map(PointKey::of).collect() } else { common };
    let absolute = candidates
        .iter()
        .filter(|k| k.mode == PointMode::Open && k.rate.ends_with("req/s"))
        .max_by(|a, b| rate_value(a).total_cmp(&rate_value(b)));
    absolute
        .or_else(|| candidates.iter().filter(|k| k.mode == PointMode::Closed).max_by_key(|k| k.connections))
        .cloned()
}

fn rate_value(k: &PointKey) -> f64 {
    k.rate.trim_end_matches(" req/s").parse().unwrap_or(0.0)
}

/// The closed-loop point of a workload with the highest median throughput.
pub fn best_closed(t: &TargetResult, workload: Workload) -> Option<&Point> {
    points_of(t, workload)
        .filter(|p| p.mode == PointMode::Closed)
        .max_by(|a, b| a.summary.throughput_rps.median.total_cmp(&b.summary.throughput_rps.median))
}

/// The report's first line for a run a signal ended: what was cut short, and that the
/// figures are partial.
pub fn interrupted_line(r: &Results) -> Option<String> {
    let i = r.interrupted.as_ref()?;
    Some(format!(
        "Interrupted run: a signal ended it {}. Only the points completed before it are shown; the target it was in \
         is marked interrupted, and `harness compare` will not gate on this run.",
        i.describe()
    ))
}

/// One line naming the machine and the run, for chart footers.
pub fn environment_line(r: &Results) -> String {
    let e = &r.environment;
    let profile = r.profile.get("name").and_then(|v| v.as_str()).unwrap_or("?");
    let cpus = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    format!(
        "{} · {} logical CPUs · server CPUs {} · client CPUs {} · {} worker(s) · {} · {} · commit {}{} · profile {} · run {}",
        e.cpu_model,
        e.logical_cpus,
        cpus(&e.server_cpus),
        cpus(&e.client_cpus),
        e.workers,
        e.kernel,
        e.rustc,
        e.git_commit,
        if e.git_dirty { " (dirty)" } else { "" },
        profile,
        r.run_id
    )
}

pub fn fmt_bytes(b: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b.abs() >= 1024.0 * MIB {
        format!("{:.2} GiB", b / (1024.0 * MIB))
    } else if b.abs() >= MIB {
        format!("{:.1} MiB", b / MIB)
    } else if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// Throughput and counts: whole numbers below a million.
/// Whether a point kept up with its load (not flagged `overloaded`): only such a point's
/// latency percentiles are shown as figures to compare.
pub fn kept_up(p: &Point) -> bool {
    !p.summary.flags.contains(&Flag::Overloaded)
}

/// A latency percentile in µs, or "> timeout" where it falls among failed requests
/// (docs/metrics.md, "Failures in latency").
pub fn fmt_latency_us(v: Option<u64>) -> String {
    Latency::show(v)
}

/// A point's headline latency percentile: "overloaded at R req/s" for a point that did not
/// keep up (its percentiles are queue growth), else [`fmt_latency_us`].
pub fn fmt_headline_latency(p: &Point, v: Option<u64>) -> String {
    if kept_up(p) { fmt_latency_us(v) } else { format!("overloaded at {} req/s", fmt_num(p.rate_rps.unwrap_or(0.0))) }
}

/// A stream's inter-token figures in µs: [p50 − token delay (the bias from the pace),
/// p99 − p50, p99.9 − p50 (the jitter, a spread)], from the ITL percentiles, so files
/// written before `itl_spread_us` existed read the same (docs/metrics.md, "Streaming").
pub fn itl_bias_and_spread(itl: &crate::results::Latency, token_delay_ms: u64) -> [Option<f64>; 3] {
    let p50 = itl.p50 as f64;
    let minus = |v: Option<u64>| v.map(|v| v as f64 - p50);
    [Some(p50 - token_delay_ms as f64 * 1e3), minus(itl.p99), minus(itl.p999)]
}

/// Percentiles of one latency as a table cell, with its sample count: "p50 / p99 (n N)";
/// `with` picks which (p50 always; p90, p99, p99.9 as given), "–" where too few samples.
pub fn fmt_pcts(l: &Latency, with: &[fn(&Latency) -> Option<u64>]) -> String {
    let values: Vec<String> = with.iter().map(|f| Latency::show(f(l))).collect();
    format!("{} (n {})", values.join(" / "), l.show_n())
}

pub const P50: fn(&Latency) -> Option<u64> = |l| Some(l.p50);
pub const P99: fn(&Latency) -> Option<u64> = |l| l.p99;
pub const P999: fn(&Latency) -> Option<u64> = |l| l.p999;
pub const MAX: fn(&Latency) -> Option<u64> = |l| Some(l.max);

/// A signed µs figure, "–" where too few samples give it.
pub fn fmt_signed_us(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `12158 [10920–13396] (5 rounds)` (median and 95% CI of the mean over its rounds), or
/// the median alone for one repeat.
pub fn fmt_rps_ci(p: &Point) -> String {
    let s = &p.summary.throughput_rps;
    if p.repeats.len() >= 2 {
        format!(
            "{} [{}–{}] ({} rounds)",
            fmt_num(s.median),
            fmt_num(s.ci95_low.max(0.0)),
            fmt_num(s.ci95_high),
            p.repeats.len()
        )
    } else {
        fmt_num(s.median)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(workload: &str, mode: &str, c: usize, rate: Option<f64>, basis: Option<&str>) -> Point {
        serde_json::from_value(serde_json::json!({
            "workload": workload, "mode": mode, "connections": c, "rate_rps": rate, "rate_basis": basis,
            "arrival": null, "repeats": [],
            "summary": {"throughput_rps": {"median": 1.0, "min": 1.0, "max": 1.0, "ci95_low": 1.0, "ci95_high": 1.0, "cv": 0.0},
                        "latency_us": {"p50": 1, "p90": 1, "p99": 1, "p999": 1, "max": 1},
                        "cpu_us_per_request": null, "rss_peak_bytes": null, "client_cpu_share": 0.0,
                        "errors": 0, "dropped": 0, "flags": [], "streaming": null}
        }))
        .unwrap()
    }

    #[test]
    fn keys_ignore_the_per_target_rate_of_fractions() {
        let a = point("predict", "open", 256, Some(6079.0), Some("0.5 x max (12158 req/s)"));
        let b = point("predict", "open", 256, Some(5764.0), Some("0.5 x max (11528 req/s)"));
        assert_eq!(PointKey::of(&a), PointKey::of(&b));
        assert_eq!(PointKey::of(&a).setting(), "open 0.5 x max");
        let c = point("predict", "open", 256, Some(2000.0), Some("absolute"));
        assert_eq!(PointKey::of(&c).setting(), "open 2000 req/s");
        assert_eq!(PointKey::of(&point("health", "closed", 64, None, None)).label(), "health closed c=64");
    }

    #[test]
    fn headline_prefers_the_highest_absolute_rate_then_most_connections() {
        let t = TargetResult {
            name: "a".into(),
            points: vec![
                point("predict", "closed", 64, None, None),
                point("predict", "open", 256, Some(6079.0), Some("0.5 x max (12158 req/s)")),
                point("predict", "open", 256, Some(2000.0), Some("absolute")),
                point("predict", "open", 256, Some(1000.0), Some("absolute")),
                point("generate", "closed", 100, None, None),
                point("generate", "closed", 1000, None, None),
            ],
            ..TargetResult::default()
        };
        let mut r = Results::begin(std::path::Path::new("x"), serde_json::json!({}), Default::default());
        r.targets.push(t);
        assert_eq!(headline_key(&r, Workload::Predict).unwrap().setting(), "open 2000 req/s");
        assert_eq!(headline_key(&r, Workload::Generate).unwrap().setting(), "closed c=1000");
        assert!(headline_key(&r, Workload::Mixed).is_none());
        assert_eq!(workloads(&r), [Workload::Predict, Workload::Generate]);
    }

    #[test]
    fn the_first_eight_colours_stay_apart() {
        // Two greens 24 apart in RGB once made django-ninja and poem hard to tell apart.
        for i in 0..8 {
            for j in i + 1..8 {
                let (a, b) = (color(i), color(j));
                let d = [(a.0, b.0), (a.1, b.1), (a.2, b.2)]
                    .iter()
                    .map(|&(x, y)| (f64::from(x) - f64::from(y)).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(d >= 60.0, "colours {i} and {j} are {d:.0} apart in RGB");
            }
        }
    }

    #[test]
    fn byte_formatting() {
        assert_eq!(fmt_bytes(4_464_640.0), "4.3 MiB");
        assert_eq!(fmt_bytes(512.0), "512 B");
    }
}
