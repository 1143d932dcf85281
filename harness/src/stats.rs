//! The one module that turns repeated measurements into summaries: median, min, max, a 95%
//! confidence interval of the mean (Student's t), and the coefficient of variation.
//! Latency percentiles come from hdrhistogram, never from code here.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A point's repeats flagged `noisy` above this coefficient of variation.
pub const NOISY_CV: f64 = 0.10;

/// ... or when the largest of the repeats' p99 latencies (the headline percentile) exceeds
/// the smallest by more than this factor. An open-loop point replays one arrival seed, so
/// its throughput never varies, while its p99 differed 33x between two repeats (the
/// example run of 2026-12-01); a ratio, since tail latency varies multiplicatively.
pub const NOISY_P99_RATIO: f64 = 1.5;

/// The repeats' p99 latencies (µs) differ by more than [`NOISY_P99_RATIO`]; false with
/// fewer than two, or with a zero among them (no latency recorded).
pub fn p99_is_noisy(p99s: &[u64]) -> bool {
    let (Some(&lo), Some(&hi)) = (p99s.iter().min(), p99s.iter().max()) else { return false };
    p99s.len() >= 2 && lo > 0 && hi as f64 > NOISY_P99_RATIO * lo as f64
}

/// Summary of one figure over a point's repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// 95% CI of the mean; equal to the mean when n < 2 (no spread can be estimated).
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// Sample standard deviation ÷ mean; 0 when n < 2 or the mean is 0.
    pub cv: f64,
}

impl Summary {
    /// The summary of no values: every figure 0.
    pub fn zero() -> Self {
        Summary { n: 0, median: 0.0, min: 0.0, max: 0.0, mean: 0.0, ci95_low: 0.0, ci95_high: 0.0, cv: 0.0 }
    }
}

/// Summarises finite values. Returns `None` for an empty slice or any non-finite value.
///
/// Invariants (property-tested): `min <= median <= max`, `min <= mean <= max`,
/// `ci95_low <= mean <= ci95_high`, `cv >= 0`, and the result does not depend on input order.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    let mean = sorted.iter().sum::<f64>() / n as f64;
    // Keep the mean inside [min, max] despite rounding.
    let mean = mean.clamp(sorted[0], sorted[n - 1]);
    let (ci95_low, ci95_high, cv) = if n < 2 {
        (mean, mean, 0.0)
    } else {
        let var = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n >= 2 gives valid freedom").inverse_cdf(0.975);
        let half = t * sd / (n as f64).sqrt();
        let cv = if mean.abs() > 0.0 { sd / mean.abs() } else { 0.0 };
        (mean - half, mean + half, cv)
    };
    Some(Summary { n, median, min: sorted[0], max: sorted[n - 1], mean, ci95_low, ci95_high, cv })
}

/// A 95% interval wider than this share of its median is wide: a profile with extra
/// rounds measures another round of the point (docs/methodology.md, "Repeats that decide").
pub const WIDE_INTERVAL: f64 = 0.20;

impl Summary {
    pub fn is_noisy(&self) -> bool {
        self.cv > NOISY_CV
    }

    /// The interval is wider than [`WIDE_INTERVAL`] of the median (never with n < 2: no
    /// interval exists, and `single_run` says so).
    pub fn is_wide(&self) -> bool {
        self.n >= 2 && self.ci95_high - self.ci95_low > WIDE_INTERVAL * self.median.abs()
    }
}

/// Ordinary least-squares line `y = intercept + slope × x` through `(x, y)` points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LineFit {
    pub slope: f64,
    pub intercept: f64,
    /// Coefficient of determination; 1 for a perfect line (and for two points).
    pub r2: f64,
}

/// Fits a line; `None` for fewer than two points, non-finite values, or when every x is the
/// same (no slope exists).
///
/// Invariants (property-tested): points on an exact line give back its slope and intercept,
/// and `0 <= r2 <= 1`.
pub fn linear_fit(points: &[(f64, f64)]) -> Option<LineFit> {
    if points.len() < 2 || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let r2 = if syy <= 0.0 { 1.0 } else { (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0) };
    Some(LineFit { slope, intercept, r2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fits_a_known_line() {
        let f = linear_fit(&[(0.0, 100.0), (10.0, 120.0), (100.0, 300.0)]).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 100.0).abs() < 1e-9 && (f.r2 - 1.0).abs() < 1e-12);
        let noisy = linear_fit(&[(0.0, 0.0), (1.0, 2.0), (2.0, 1.0), (3.0, 3.0)]).unwrap();
        assert!(noisy.r2 > 0.0 && noisy.r2 < 1.0, "{noisy:?}");
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    proptest! {
        #[test]
        fn exact_lines_are_recovered(slope in -1e6f64..1e6, intercept in -1e9f64..1e9, xs in proptest::collection::vec(0u32..100_000, 2..8)) {
            let mut xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
            xs.dedup();
            prop_assume!(xs.iter().any(|&x| x != xs[0]));
            let pts: Vec<(f64, f64)> = xs.iter().map(|&x| (x, intercept + slope * x)).collect();
            let f = linear_fit(&pts).unwrap();
            prop_assert!((f.slope - slope).abs() <= 1e-6 * slope.abs().max(1.0));
            prop_assert!((0.0..=1.0).contains(&f.r2));
        }
    }

    #[test]
    fn known_values() {
        let s = summarize(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.mean), (12.0, 10.0, 14.0, 12.0));
        // sd = 2, t(0.975, 2) = 4.302653, half = 4.302653 * 2 / sqrt(3) = 4.968275
        assert!((s.ci95_high - 16.968275).abs() < 1e-5, "{s:?}");
        assert!((s.cv - 2.0 / 12.0).abs() < 1e-12);
        assert!(s.is_noisy());
    }

    #[test]
    fn single_value_has_no_spread() {
        let s = summarize(&[5.0]).unwrap();
        assert_eq!((s.ci95_low, s.ci95_high, s.cv), (5.0, 5.0, 0.0));
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[1.0, f64::NAN]).is_none());
        assert!(summarize(&[f64::INFINITY]).is_none());
    }

    proptest! {
        #[test]
        fn order_invariants(values in proptest::collection::vec(-1e9f64..1e9, 1..50)) {
            let s = summarize(&values).unwrap();
            prop_assert!(s.min <= s.median && s.median <= s.max);
            prop_assert!(s.min <= s.mean && s.mean <= s.max);
            prop_assert!(s.ci95_low <= s.mean && s.mean <= s.ci95_high);
            prop_assert!(s.cv >= 0.0);
            prop_assert_eq!(s.n, values.len());
        }

        #[test]
        fn order_of_input_does_not_matter(mut values in proptest::collection::vec(0f64..1e6, 1..30)) {
            let a = summarize(&values).unwrap();
            values.reverse();
            let b = summarize(&values).unwrap();
            prop_assert_eq!(a.median, b.median);
            prop_assert!((a.mean - b.mean).abs() <= 1e-9 * a.mean.abs().max(1.0));
        }

        #[test]
        fn identical_values_have_zero_spread(v in 1f64..1e6, n in 2usize..20) {
            let s = summarize(&vec![v; n]).unwrap();
            prop_assert_eq!(s.cv, 0.0);
            prop_assert!((s.ci95_high - s.ci95_low).abs() < 1e-9 * v);
        }

        #[test]
        fn scaling_scales_everything_but_cv(values in proptest::collection::vec(1f64..1e4, 2..20), k in 1f64..100.0) {
            let a = summarize(&values).unwrap();
            let scaled: Vec<f64> = values.iter().map(|v| v * k).collect();
            let b = summarize(&scaled).unwrap();
            prop_assert!((b.median - a.median * k).abs() <= 1e-9 * b.median);
            prop_assert!((b.cv - a.cv).abs() <= 1e-9);
        }
    }
}
