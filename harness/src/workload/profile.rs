//! Profiles: whole, documented presets of durations, warm-ups, repeats and load points
//! (docs/methodology.md, "Profiles"). Command-line flags may override single fields.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileName {
    /// CI smoke: every Rust target and workload in under 5 minutes, excluding build.
    Quick,
    /// The default.
    Standard,
    /// Long publication runs.
    Full,
}

/// Everything a profile fixes: the windows every point shares, and each workload's own
/// settings (in its file under `workload/`).
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: ProfileName,
    /// Load before each measured window, not recorded.
    #[serde(with = "super::secs")]
    pub warmup: Duration,
    /// Length of each measured window.
    #[serde(with = "super::secs")]
    pub duration: Duration,
    /// Measured windows per point: the rounds every target runs.
    pub repeats: usize,
    /// At most this many extra rounds per point, for the targets whose throughput interval
    /// is still wider than `stats::WIDE_INTERVAL` of its median...
    pub extra_rounds: usize,
    /// ... within this share of the run's planned seconds, for all extra rounds together.
    pub extra_round_share: f64,
    /// Upper bound of the open-loop connection pool.
    pub open_max_connections: usize,
    /// Cold starts per target for the startup time (median reported).
    pub startup_runs: usize,
    #[serde(flatten)]
    pub workloads: super::Settings,
    /// Shape b of the open loop's Gamma-distributed gaps (`--burstiness`; scale 1/(rate·b),
    /// so the mean rate is kept): 1 is Poisson, below 1 burstier, above 1 more regular.
    pub burstiness: f64,
    /// The objectives given with `--slo` (docs/metrics.md, "Objectives").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<crate::slo::Slo>,
}

impl Profile {
    pub fn get(name: ProfileName) -> Self {
        let (warmup, duration, repeats, open_max_connections) = match name {
            ProfileName::Quick => (Duration::from_millis(500), Duration::from_secs(2), 2, 256),
            ProfileName::Standard => (Duration::from_millis(750), Duration::from_secs(2), 5, 512),
            ProfileName::Full => (Duration::from_secs(5), Duration::from_secs(30), 5, 2048),
        };
        let (extra_rounds, extra_round_share) = match name {
            ProfileName::Quick => (0, 0.0),
            ProfileName::Standard => (3, 0.05),
            ProfileName::Full => (5, 0.20),
        };
        Profile {
            name,
            warmup,
            duration,
            repeats,
            extra_rounds,
            extra_round_share,
            open_max_connections,
            startup_runs: 3,
            workloads: super::Settings::of(name),
            burstiness: 1.0,
            slo: Vec::new(),
        }
    }

    /// The open loop's arrivals: Poisson (b = 1) or Gamma gaps of shape b, seeded.
    pub fn arrival(&self) -> crate::driver::Arrival {
        use crate::driver::Arrival;
        if self.burstiness == 1.0 {
            Arrival::Poisson { seed: super::SEED }
        } else {
            Arrival::Gamma { shape: self.burstiness, seed: super::SEED }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each workload's settings moved to its own file; results.json records every setting
    /// the committed example run (quick, `--repeats 5`) recorded, under the same key and
    /// with the same value (a workload added since brings keys of its own).
    #[test]
    fn the_profile_is_recorded_as_the_example_run_recorded_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
        let example: serde_json::Value = serde_json::from_slice(&std::fs::read(path.clone()).unwrap()).unwrap();
        let typed: crate::results::Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        // Quick, with the overrides its recorded command line gave (`--repeats 5`).
        let now = serde_json::to_value(crate::plan::tests::example_profile(&typed)).unwrap();
        let recorded = example["profile"].as_object().unwrap();
        assert!(recorded.len() >= 20, "{recorded:?}");
        for (key, value) in recorded {
            assert_eq!(now.get(key), Some(value), "profile key {key}");
        }
    }

    /// quick must stay under 5 minutes for 4 targets: the plan's steps, each repeats ×
    /// (warm-up + window), summed over every workload, and 10 s per target for start-ups
    /// (one per workload), verification and shutdowns (measured: a quick run of the four
    /// Rust targets with every workload took 281 s, about 5 s per target above the windows).
    #[test]
    fn quick_fits_in_five_minutes_for_four_targets() {
        let total = 4.0 * per_target(&Profile::get(ProfileName::Quick));
        assert!(total < 300.0, "quick would take {total} s");
    }

    /// One target's planned seconds under `p`: every workload's steps
    /// (`plan::step_seconds`), the per-target start-ups, verification and shutdowns
    /// (`plan::PER_TARGET_OVERHEAD_S`), and the profile's allowance for extra rounds.
    fn per_target(p: &Profile) -> f64 {
        use crate::workload::{Workload, spec};
        let steps: f64 = Workload::of_api(crate::results::Api::Contract)
            .into_iter()
            .flat_map(|w| spec(w).steps(p))
            .map(|s| crate::plan::step_seconds(&s))
            .sum();
        (steps + crate::plan::PER_TARGET_OVERHEAD_S) * (1.0 + p.extra_round_share)
    }

    /// What a standard window costs beyond its warm-up and window: the drain of the
    /// exchanges in flight at its end, the closed loop's phase alignment, the start of the
    /// sampler and the journal's writes, and the start-ups, verification and cold starts
    /// beyond `plan::PER_TARGET_OVERHEAD_S`. Measured 2026-12-02: a standard run of axum
    /// and fastapi (5 rounds of 1 s + 3 s) took 1,084 s against 860 s of planned windows
    /// and about 16 s of extra rounds, 104 s per target above the plan over its 91 windows.
    const STANDARD_WINDOW_OVERHEAD_S: f64 = 1.15;

    /// `chat` against one OpenAI server (`--api openai`) under standard: its points' windows
    /// and their measured cost beyond the plan stay within 5 minutes, so a user measuring a
    /// model server knows what one run takes.
    #[test]
    fn chat_under_standard_fits_in_five_minutes_per_server() {
        use crate::workload::{Step, Workload, spec};
        let p = Profile::get(ProfileName::Standard);
        let steps = spec(Workload::Chat).steps(&p);
        let windows: usize = steps.iter().map(|s| if let Step::Point(pt) = s { pt.window.repeats } else { 0 }).sum();
        let planned: f64 = steps.iter().map(crate::plan::step_seconds).sum();
        let s = planned + windows as f64 * STANDARD_WINDOW_OVERHEAD_S;
        assert!(s <= 300.0, "chat under standard would take {s:.0} s ({windows} windows)");
    }

    /// The standard profile (the main job) stays within 8 minutes per target, extra rounds
    /// and the measured cost per window included, with at least 5 rounds per point: a later
    /// change that adds points or targets' steps keeps this green.
    #[test]
    fn standard_fits_in_eight_minutes_per_target_with_five_rounds() {
        use crate::workload::{Step, Workload, spec};
        let p = Profile::get(ProfileName::Standard);
        assert!(p.repeats >= 5, "standard has {} rounds per point", p.repeats);
        let windows: usize = Workload::of_api(crate::results::Api::Contract)
            .iter()
            .flat_map(|&w| spec(w).steps(&p))
            .map(|s| match s {
                Step::Point(pt) => pt.window.repeats,
                Step::CalibrateWork { calibration, .. } => calibration.max_trials,
                Step::ProbeBaseline { window, .. } => 2 * window.repeats,
                Step::Goose { .. } => 1,
            })
            .sum();
        let s = per_target(&p) + windows as f64 * STANDARD_WINDOW_OVERHEAD_S * (1.0 + p.extra_round_share);
        assert!(s <= 8.0 * 60.0, "standard would take {s:.0} s per target ({windows} windows)");
    }
}
