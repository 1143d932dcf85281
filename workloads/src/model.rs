//! The scoring model every target runs, defined bit for bit so that scores from any
//! implementation (Rust here, Python later) agree within 1e-9.
//!
//! Weights come from splitmix64, so no weight file has to be shipped or kept in sync.
//! Sums run in a fixed order and never use fused multiply-add, because the order of
//! floating-point additions is part of the contract. The loops index explicitly, in the
//! order docs/contract.md states, rather than through iterator adaptors.
#![allow(clippy::needless_range_loop)]

use std::sync::LazyLock;

/// Number of features per row: fixed by the contract.
pub const FEATURES: usize = 32;
/// Hidden units of the MLP.
pub const HIDDEN: usize = 16;
/// Seed of the linear model's weights.
pub const LINEAR_SEED: u64 = 0x5EED;
/// Seed of the MLP's weights.
pub const MLP_SEED: u64 = 0x5EED + 1;

/// splitmix64 as published by Steele, Lea and Flood; all arithmetic is mod 2^64.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A weight in [-0.5, 0.5): the top 53 bits scaled by 2^-53, minus one half.
    #[inline]
    pub fn next_weight(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        ((self.next_u64() >> 11) as f64) * SCALE - 0.5
    }
}

/// Which model a predict request asks for.
/// Deserialised in `contract.rs` (strictly from a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Linear,
    Mlp,
}

impl ModelKind {
    pub fn score(self, x: &[f64; FEATURES]) -> f64 {
        match self {
            ModelKind::Linear => LINEAR.score(x),
            ModelKind::Mlp => MLP.score(x),
        }
    }
}

/// Logistic regression over the 32 features.
#[derive(Debug, Clone)]
pub struct Linear {
    pub w: [f64; FEATURES],
    pub b: f64,
}

impl Linear {
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut w = [0.0; FEATURES];
        for wi in &mut w {
            *wi = rng.next_weight();
        }
        let b = rng.next_weight();
        Self { w, b }
    }

    #[inline]
    pub fn logit(&self, x: &[f64; FEATURES]) -> f64 {
        let mut acc = self.b;
        for i in 0..FEATURES {
            acc += self.w[i] * x[i];
        }
        acc
    }

    #[inline]
    pub fn score(&self, x: &[f64; FEATURES]) -> f64 {
        sigmoid(self.logit(x))
    }

    /// Indices of the `k` largest |w[i]·x[i]|, largest first, ties to the lower index.
    pub fn top_features(&self, x: &[f64; FEATURES], k: usize) -> Vec<usize> {
        let mut idx: [usize; FEATURES] = std::array::from_fn(|i| i);
        let contrib: [f64; FEATURES] = std::array::from_fn(|i| (self.w[i] * x[i]).abs());
        // Stable sort on descending contribution keeps the lower index first on ties.
        // Features are validated finite, so total_cmp never meets NaN here.
        idx.sort_by(|&a, &b| contrib[b].total_cmp(&contrib[a]));
        idx[..k.min(FEATURES)].to_vec()
    }
}

/// A 32-16-1 perceptron with tanh hidden units and a sigmoid output.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub w1: [[f64; FEATURES]; HIDDEN],
    pub b1: [f64; HIDDEN],
    pub w2: [f64; HIDDEN],
    pub b2: f64,
}

impl Mlp {
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut w1 = [[0.0; FEATURES]; HIDDEN];
        for row in &mut w1 {
            for w in row.iter_mut() {
                *w = rng.next_weight();
            }
        }
        let b1 = std::array::from_fn(|_| rng.next_weight());
        let w2 = std::array::from_fn(|_| rng.next_weight());
        let b2 = rng.next_weight();
        Self { w1, b1, w2, b2 }
    }

    #[inline]
    pub fn score(&self, x: &[f64; FEATURES]) -> f64 {
        let mut acc = self.b2;
        for j in 0..HIDDEN {
            let mut h = self.b1[j];
            for i in 0..FEATURES {
                h += self.w1[j][i] * x[i];
            }
            acc += self.w2[j] * h.tanh();
        }
        sigmoid(acc)
    }
}

#[inline]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The contract's linear model (seed 0x5EED), built once per process.
pub static LINEAR: LazyLock<Linear> = LazyLock::new(|| Linear::from_seed(LINEAR_SEED));
/// The contract's MLP (seed 0x5EED + 1), built once per process.
pub static MLP: LazyLock<Mlp> = LazyLock::new(|| Mlp::from_seed(MLP_SEED));

/// CPU-bound inference: `work` chained MLP passes, each feeding its score into feature 0
/// of the next, so the compiler cannot hoist or skip any pass.
pub fn infer_cpu(features: &[f64; FEATURES], work: u64) -> f64 {
    let mlp = &*MLP;
    let mut s = 0.0;
    let mut x = *features;
    for _ in 0..work {
        x[0] = features[0] + s;
        s = mlp.score(&x);
    }
    s
}

/// I/O-bound inference scores with the linear model once the simulated remote call returns.
pub fn infer_io(features: &[f64; FEATURES]) -> f64 {
    LINEAR.score(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_outputs() {
        // Reference values for seed 0 from the published splitmix64 C code (also used by
        // Java's SplittableRandom); hand-checkable against any implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn weights_lie_in_half_open_unit_interval_around_zero() {
        let mut r = SplitMix64::new(42);
        for _ in 0..10_000 {
            let w = r.next_weight();
            assert!((-0.5..0.5).contains(&w), "{w}");
        }
    }

    #[test]
    fn zero_features_give_sigmoid_of_bias() {
        let x = [0.0; FEATURES];
        assert_eq!(LINEAR.score(&x), sigmoid(LINEAR.b));
        let expected = sigmoid(MLP.b2 + (0..HIDDEN).map(|j| MLP.w2[j] * MLP.b1[j].tanh()).sum::<f64>());
        assert!((MLP.score(&x) - expected).abs() < 1e-15);
    }

    /// Values computed independently in Python (see docs/contract.md, "Cross-check"):
    /// a bug shared by every Rust server would still fail here.
    #[test]
    fn scores_match_independent_python_computation() {
        let zeros = [0.0; FEATURES];
        let ramp: [f64; FEATURES] = std::array::from_fn(|i| i as f64 / 8.0 - 2.0);
        assert!((LINEAR.score(&zeros) - PY_LINEAR_ZEROS).abs() < 1e-12);
        assert!((MLP.score(&zeros) - PY_MLP_ZEROS).abs() < 1e-12);
        assert!((LINEAR.score(&ramp) - PY_LINEAR_RAMP).abs() < 1e-12);
        assert!((MLP.score(&ramp) - PY_MLP_RAMP).abs() < 1e-12);
        assert_eq!(LINEAR.top_features(&ramp, 3), PY_TOP3_RAMP);
        assert!((infer_cpu(&ramp, 3) - PY_CPU3_RAMP).abs() < 1e-12);
    }

    // Printed by scripts/crosscheck_model.py.
    const PY_LINEAR_ZEROS: f64 = 0.5060596339280626;
    const PY_MLP_ZEROS: f64 = 0.407002894174042;
    const PY_LINEAR_RAMP: f64 = 0.9834981865179685;
    const PY_MLP_RAMP: f64 = 0.5350135210040452;
    const PY_TOP3_RAMP: [usize; 3] = [0, 31, 4];
    const PY_CPU3_RAMP: f64 = 0.5421721595170883;

    #[test]
    fn top_features_breaks_ties_to_lower_index() {
        let x = [0.0; FEATURES];
        assert_eq!(LINEAR.top_features(&x, 4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn cpu_chain_of_one_is_mlp_of_features() {
        let x: [f64; FEATURES] = std::array::from_fn(|i| (i as f64).sin());
        assert_eq!(infer_cpu(&x, 1), MLP.score(&x));
    }
}
