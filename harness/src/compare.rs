//! `harness compare <base> <new> [--threshold 10%]`: the regression gate. Compares every
//! headline metric of every point the two runs share and prints a Markdown table.
//!
//! A difference is a regression only when it is beyond the threshold **and** real: the 95%
//! confidence intervals of the mean over each side's repeats do not overlap. With a single
//! repeat on either side there is no interval, so the documented noise rule applies instead:
//! the difference must exceed twice the threshold (docs/metrics.md, "Comparing runs").
//! Exit status: 0 no regression, 1 a regression, 2 unusable input.

use std::fmt::Write;
use std::path::Path;

use crate::results::{self, Point, PointKey, Repeat, Results, TargetResult};
use crate::stats;

/// With one repeat on a side, a difference must exceed this multiple of the threshold.
pub const SINGLE_REPEAT_FACTOR: f64 = 2.0;

/// Why two runs cannot be compared (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Load(#[from] results::LoadError),
    #[error(
        "target `{target}` is in {present} but not in {absent}; compare runs of the same targets (run both with the same --framework list)"
    )]
    TargetMissing { target: String, present: String, absent: String },
    #[error("{base} and {new} share no measured point; compare runs of the same workloads and profile")]
    NothingShared { base: String, new: String },
    #[error(
        "not gated: {run} was interrupted ({what}), so its figures are partial and a missing or cut-short point would read as a change; re-run it to completion"
    )]
    Interrupted { run: String, what: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    Same,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub target: String,
    pub point: String,
    pub metric: &'static str,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// Signed change in percent of the base value.
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, when that is not obvious.
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub base_label: String,
    pub new_label: String,
    pub threshold_pct: f64,
    pub rows: Vec<Row>,
    /// Points present on one side only (not a regression: profiles may differ).
    pub unmatched: Vec<String>,
    pub warnings: Vec<String>,
    /// The runs come from different machines (CPU model or count): verdicts are shown, but
    /// they are no regression gate, because the machine and not the code may differ.
    pub machines_differ: bool,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict == Verdict::Worse).count()
    }

    /// Whether the comparison fails the gate: a regression between runs of the same machine.
    pub fn gate_fails(&self) -> bool {
        self.regressions() > 0 && !self.machines_differ
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

struct Metric {
    name: &'static str,
    better: Better,
    /// Only for closed-loop points (an open-loop throughput is the offered rate).
    closed_only: bool,
    summary: fn(&Point) -> Option<f64>,
    repeat: fn(&Point, &Repeat) -> Option<f64>,
}

const METRICS: &[Metric] = &[
    Metric {
        name: "req/s",
        better: Better::Higher,
        closed_only: true,
        summary: |p| Some(p.summary.throughput_rps.median),
        repeat: |_, r| Some(r.throughput_rps),
    },
    Metric {
        name: "p50 µs",
        better: Better::Lower,
        closed_only: false,
        summary: |p| Some(p.summary.latency_us.p50 as f64),
        repeat: |_, r| Some(r.latency_us.p50 as f64),
    },
    Metric {
        name: "p99 µs",
        better: Better::Lower,
        closed_only: false,
        summary: |p| p.summary.latency_us.p99.map(|v| v as f64),
        repeat: |_, r| r.latency_us.p99.map(|v| v as f64),
    },
    Metric {
        name: "CPU-µs/resp",
        better: Better::Lower,
        closed_only: false,
        summary: |p| p.summary.cpu_us_per_request,
        repeat: |_, r| r.cpu_us_per_request,
    },
    Metric {
        name: "peak RSS bytes",
        better: Better::Lower,
        closed_only: false,
        summary: |p| p.summary.rss_peak_bytes.map(|b| b as f64),
        repeat: |_, r| r.rss_peak_bytes.map(|b| b as f64),
    },
    Metric {
        name: "TTFT p99 µs",
        better: Better::Lower,
        closed_only: false,
        summary: |p| p.summary.streaming.as_ref().and_then(|s| s.ttft_us.p99).map(|v| v as f64),
        repeat: |_, r| r.streaming.as_ref().and_then(|s| s.ttft_us.p99).map(|v| v as f64),
    },
    Metric {
        name: "tokens/s",
        better: Better::Higher,
        closed_only: false,
        summary: |p| p.summary.streaming.as_ref().map(|s| s.tokens_per_s),
        repeat: |_, r| r.streaming.as_ref().map(|s| s.tokens_per_s),
    },
    Metric {
        name: "efficiency %",
        better: Better::Higher,
        closed_only: false,
        summary: |p| p.summary.inflight.as_ref().map(|i| i.efficiency_pct),
        repeat: |p, r| {
            p.summary.inflight.as_ref().filter(|i| i.ideal_rps > 0.0).map(|i| 100.0 * r.throughput_rps / i.ideal_rps)
        },
    },
    Metric {
        name: "probe p99 loaded µs",
        better: Better::Lower,
        closed_only: false,
        summary: |p| p.summary.probe.as_ref().and_then(|x| x.loaded_us.p99).map(|v| v as f64),
        // The probe is one merged histogram per point: no per-repeat values.
        repeat: |_, _| None,
    },
];

/// Loads both runs and compares them.
pub fn compare_paths(base: &Path, new: &Path, threshold_pct: f64) -> Result<Comparison, CompareError> {
    let (b, _) = results::load(base)?;
    let (n, _) = results::load(new)?;
    compare(&b, &n, &base.display().to_string(), &new.display().to_string(), threshold_pct)
}

pub fn compare(
    base: &Results,
    new: &Results,
    base_label: &str,
    new_label: &str,
    threshold_pct: f64,
) -> Result<Comparison, CompareError> {
    for (r, label) in [(base, base_label), (new, new_label)] {
        if let Some(i) = &r.interrupted {
            return Err(CompareError::Interrupted { run: label.into(), what: i.describe() });
        }
    }
    for (a, b, present, absent) in [(base, new, base_label, new_label), (new, base, new_label, base_label)] {
        if let Some(t) = a.targets.iter().find(|t| !b.targets.iter().any(|u| u.name == t.name)) {
            return Err(CompareError::TargetMissing {
                target: t.name.clone(),
                present: present.into(),
                absent: absent.into(),
            });
        }
    }
    let mut c = Comparison {
        base_label: base_label.into(),
        new_label: new_label.into(),
        threshold_pct,
        rows: Vec::new(),
        unmatched: Vec::new(),
        warnings: Vec::new(),
        machines_differ: false,
    };
    let profile = |r: &Results| r.profile.get("name").and_then(|v| v.as_str()).unwrap_or("?").to_owned();
    if profile(base) != profile(new) {
        c.warnings.push(format!("profiles differ: base `{}`, new `{}`", profile(base), profile(new)));
    }
    if base.environment.cpu_model != new.environment.cpu_model
        || base.environment.logical_cpus != new.environment.logical_cpus
    {
        c.machines_differ = true;
        c.warnings.push(format!(
            "machines differ: base {} ({} CPUs), new {} ({} CPUs)",
            base.environment.cpu_model,
            base.environment.logical_cpus,
            new.environment.cpu_model,
            new.environment.logical_cpus
        ));
    }
    for bt in &base.targets {
        let nt = new.targets.iter().find(|t| t.name == bt.name).expect("checked above");
        compare_target(bt, nt, &mut c);
    }
    if c.rows.is_empty() {
        return Err(CompareError::NothingShared { base: base_label.into(), new: new_label.into() });
    }
    Ok(c)
}

fn compare_target(bt: &TargetResult, nt: &TargetResult, c: &mut Comparison) {
    let measured = |t: &TargetResult| t.status == crate::results::TargetStatus::Measured;
    if measured(bt) != measured(nt) {
        let reason = |t: &TargetResult| t.skip_reason.clone().unwrap_or_else(|| t.status.name().to_owned());
        c.rows.push(Row {
            target: bt.name.clone(),
            point: "(target)".into(),
            metric: "status",
            base: None,
            new: None,
            change_pct: None,
            verdict: if measured(bt) { Verdict::Worse } else { Verdict::Better },
            note: if measured(bt) {
                format!("not measured in new: {}", reason(nt))
            } else {
                format!("not measured in base: {}", reason(bt))
            },
        });
        return;
    }
    for bp in &bt.points {
        let key = PointKey::of(bp);
        let Some(np) = nt.points.iter().find(|p| PointKey::of(p) == key) else {
            c.unmatched.push(format!("{} {} (base only)", bt.name, key.label()));
            continue;
        };
        for m in METRICS {
            if m.closed_only && bp.mode != crate::results::PointMode::Closed {
                continue;
            }
            let (Some(b), Some(n)) = ((m.summary)(bp), (m.summary)(np)) else { continue };
            let bv: Vec<f64> = bp.repeats.iter().filter_map(|r| (m.repeat)(bp, r)).collect();
            let nv: Vec<f64> = np.repeats.iter().filter_map(|r| (m.repeat)(np, r)).collect();
            let (verdict, change, mut note) = judge(m.better, b, n, &bv, &nv, c.threshold_pct);
            // A fraction of each side's own maximum is matched by the fraction; the rates it
            // came to are shown, so a slower build tested at a lower load is seen.
            if let (Some(br), Some(nr)) = (bp.rate_rps, np.rate_rps) {
                if bp.rate_basis.as_deref().is_some_and(|b| !b.starts_with("absolute")) {
                    let rates = format!("at {br:.0} req/s in base, {nr:.0} req/s in new");
                    note = if note.is_empty() { rates } else { format!("{note}; {rates}") };
                }
            }
            c.rows.push(Row {
                target: bt.name.clone(),
                point: key.label(),
                metric: m.name,
                base: Some(b),
                new: Some(n),
                change_pct: change,
                verdict,
                note,
            });
        }
    }
    for np in &nt.points {
        if !bt.points.iter().any(|p| PointKey::of(p) == PointKey::of(np)) {
            c.unmatched.push(format!("{} {} (new only)", nt.name, PointKey::of(np).label()));
        }
    }
}

/// The verdict for one metric: beyond the threshold, and the repeats' 95% CIs apart (or,
/// with a single repeat on a side, beyond `SINGLE_REPEAT_FACTOR` × threshold).
fn judge(
    better: Better,
    base: f64,
    new: f64,
    base_reps: &[f64],
    new_reps: &[f64],
    threshold_pct: f64,
) -> (Verdict, Option<f64>, String) {
    if base == 0.0 {
        return if new == 0.0 {
            (Verdict::Same, Some(0.0), String::new())
        } else {
            (Verdict::Same, None, "base is 0: no relative change".into())
        };
    }
    let change = (new - base) / base.abs() * 100.0;
    let worse = match better {
        Better::Higher => change < 0.0,
        Better::Lower => change > 0.0,
    };
    if change.abs() <= threshold_pct {
        return (Verdict::Same, Some(change), String::new());
    }
    let (significant, note) = match (stats::summarize(base_reps), stats::summarize(new_reps)) {
        (Some(b), Some(n)) if b.n >= 2 && n.n >= 2 => {
            let overlap = b.ci95_low <= n.ci95_high && n.ci95_low <= b.ci95_high;
            (!overlap, if overlap { "beyond threshold, but the 95% CIs overlap".to_owned() } else { String::new() })
        }
        _ => {
            let beyond = change.abs() > SINGLE_REPEAT_FACTOR * threshold_pct;
            (
                beyond,
                format!(
                    "single repeat: needs more than {:.0}%{}",
                    SINGLE_REPEAT_FACTOR * threshold_pct,
                    if beyond { "" } else { ", not reached" }
                ),
            )
        }
    };
    let verdict = match (significant, worse) {
        (false, _) => Verdict::Same,
        (true, true) => Verdict::Worse,
        (true, false) => Verdict::Better,
    };
    (verdict, Some(change), note)
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

pub fn to_markdown(c: &Comparison) -> String {
    let mut s = format!(
        "## Comparison: `{}` → `{}`\n\nThreshold {}%: a change is `worse` or `better` only beyond it and with the two runs' \
         95% CIs over repeats apart (with a single repeat: beyond {}%). See docs/metrics.md, \"Comparing runs\".\n\n",
        c.base_label,
        c.new_label,
        c.threshold_pct,
        SINGLE_REPEAT_FACTOR * c.threshold_pct
    );
    for w in &c.warnings {
        let _ = writeln!(s, "> **Warning:** {w}\n");
    }
    s.push_str(
        "| target | point | metric | base | new | change | verdict | note |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &c.rows {
        let verdict = match r.verdict {
            Verdict::Worse => "**worse**".to_owned(),
            v => v.as_str().to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.target,
            r.point,
            r.metric,
            fmt(r.base),
            fmt(r.new),
            r.change_pct.map_or_else(|| "—".to_owned(), |c| format!("{c:+.1}%")),
            verdict,
            r.note.replace('|', "\\|")
        );
    }
    if !c.unmatched.is_empty() {
        let _ = writeln!(s, "\nNot compared (on one side only): {}.", c.unmatched.join("; "));
    }
    let worse = c.regressions();
    let better = c.rows.iter().filter(|r| r.verdict == Verdict::Better).count();
    let _ = writeln!(
        s,
        "\n**{}**: {worse} worse, {better} better, {} same.",
        if worse > 0 { "Regression" } else { "No regression" },
        c.rows.len() - worse - better
    );
    s
}

/// `0.1`, `10`, `10%` → percent. Used by clap.
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let v: f64 =
        s.trim().trim_end_matches('%').trim().parse().map_err(|_| format!("{s:?} is not a percentage like 10%"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?}: the threshold must be a percentage of 0 or more"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        assert_eq!(parse_threshold("10%"), Ok(10.0));
        assert_eq!(parse_threshold("2.5"), Ok(2.5));
        assert!(parse_threshold("-1%").is_err() && parse_threshold("ten").is_err());
    }

    #[test]
    fn needs_both_threshold_and_separate_cis() {
        // 30% lower throughput with tight repeats: worse.
        let (v, c, _) = judge(Better::Higher, 100.0, 70.0, &[99.0, 101.0, 100.0], &[69.0, 71.0, 70.0], 10.0);
        assert_eq!(v, Verdict::Worse);
        assert!((c.unwrap() + 30.0).abs() < 1e-9);
        // 30% lower but wildly spread repeats: the CIs overlap, so same.
        let (v, _, note) = judge(Better::Higher, 100.0, 70.0, &[40.0, 160.0], &[20.0, 120.0], 10.0);
        assert_eq!(v, Verdict::Same);
        assert!(note.contains("overlap"));
        // Within the threshold: same, however tight.
        assert_eq!(judge(Better::Lower, 100.0, 105.0, &[100.0, 100.1], &[105.0, 105.1], 10.0).0, Verdict::Same);
        // Lower latency beyond threshold: better.
        assert_eq!(judge(Better::Lower, 100.0, 50.0, &[100.0, 101.0], &[50.0, 51.0], 10.0).0, Verdict::Better);
    }

    #[test]
    fn single_repeats_need_twice_the_threshold() {
        assert_eq!(judge(Better::Higher, 100.0, 85.0, &[100.0], &[85.0], 10.0).0, Verdict::Same);
        assert_eq!(judge(Better::Higher, 100.0, 75.0, &[100.0], &[75.0], 10.0).0, Verdict::Worse);
        assert_eq!(judge(Better::Lower, 0.0, 0.0, &[], &[], 10.0).0, Verdict::Same);
    }
}
