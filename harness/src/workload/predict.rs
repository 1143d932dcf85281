//! `predict`: the validation-heavy `POST /v1/predict` mix (10% invalid), closed-loop
//! points first, then open-loop ones at fractions of the closed-loop maximum (which they
//! depend on) and at absolute rates common to every target.

use serde::Serialize;

use super::{Profile, ProfileName, Rate, SEED, Spec, Step, Window};
use crate::driver::PayloadSet;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Closed-loop connection counts.
    #[serde(rename = "predict_connections")]
    pub connections: Vec<usize>,
    /// Open-loop rates as fractions of the target's own closed-loop maximum.
    pub open_fractions: Vec<f64>,
    /// Open-loop rates (req/s) common to every target, so latencies compare directly.
    pub open_absolute_rps: Vec<f64>,
}

/// The open-loop rate every target is measured at, so latencies compare directly: it must
/// be one every measured target sustains. The lowest closed-loop predict capacity measured
/// (django-ninja, 574 req/s on one core, quick example of 2026-11) is 2.3 times this; a
/// target that cannot sustain it is flagged `overloaded` (docs/methodology.md, "Profiles").
/// It was 2,000 (quick) and 10,000 req/s (standard): 2.5 to 17 times the Python capacities.
pub const COMMON_RPS: f64 = 250.0;

pub fn settings(p: ProfileName) -> Settings {
    match p {
        ProfileName::Quick => {
            Settings { connections: vec![64], open_fractions: vec![0.5], open_absolute_rps: vec![COMMON_RPS] }
        }
        ProfileName::Standard => Settings {
            connections: vec![16, 64, 256],
            open_fractions: vec![0.25, 0.5, 0.75],
            open_absolute_rps: vec![COMMON_RPS],
        },
        ProfileName::Full => Settings {
            connections: vec![1, 16, 64, 256, 1024],
            open_fractions: vec![0.1, 0.25, 0.5, 0.75, 0.9],
            open_absolute_rps: vec![COMMON_RPS],
        },
    }
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.predict;
        let window = Window::of(self, p);
        let mut steps = super::closed(self, p, &s.connections, None);
        steps.extend(s.open_fractions.iter().map(|&f| super::open(p, Rate::OfClosedMax(f), window)));
        steps.extend(s.open_absolute_rps.iter().map(|&r| super::open(p, Rate::Absolute(r), window)));
        steps
    }

    fn payloads(&self, _p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        Some(PayloadSet::predict(SEED))
    }
}
