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
    /// Measured windows per point.
    pub repeats: usize,
    /// Upper bound of the open-loop connection pool.
    pub open_max_connections: usize,
    /// Cold starts per target for the startup time (median reported).
    pub startup_runs: usize,
    #[serde(flatten)]
    pub workloads: super::Settings,
}

impl Profile {
    pub fn get(name: ProfileName) -> Self {
        let (warmup, duration, repeats, open_max_connections) = match name {
            ProfileName::Quick => (Duration::from_millis(500), Duration::from_secs(2), 2, 256),
            ProfileName::Standard => (Duration::from_secs(2), Duration::from_secs(10), 3, 512),
            ProfileName::Full => (Duration::from_secs(5), Duration::from_secs(30), 5, 2048),
        };
        Profile {
            name,
            warmup,
            duration,
            repeats,
            open_max_connections,
            startup_runs: 3,
            workloads: super::Settings::of(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each workload's settings moved to its own file; results.json records every setting
    /// the committed example run (quick) recorded before the move, under the same key and
    /// with the same value (a workload added since brings keys of its own).
    #[test]
    fn the_profile_is_recorded_as_the_example_run_recorded_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
        let example: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let now = serde_json::to_value(Profile::get(ProfileName::Quick)).unwrap();
        let recorded = example["profile"].as_object().unwrap();
        assert!(recorded.len() >= 20, "{recorded:?}");
        for (key, value) in recorded {
            assert_eq!(now.get(key), Some(value), "profile key {key}");
        }
    }

    /// quick must stay under 5 minutes for 4 targets: the plan's steps, each repeats ×
    /// (warm-up + window), summed over every workload.
    #[test]
    fn quick_fits_in_five_minutes_for_four_targets() {
        use crate::workload::{Step, Workload, spec};
        let p = Profile::get(ProfileName::Quick);
        let per_target: f64 = Workload::ALL
            .iter()
            .flat_map(|&w| spec(w).steps(&p))
            .map(|step| match step {
                Step::Point(pt) => (pt.window.warmup + pt.window.duration).as_secs_f64() * pt.window.repeats as f64,
                // At most `max_trials` trials, each a warm-up and a window.
                Step::CalibrateWork { calibration: c, .. } => (c.warmup + c.window).as_secs_f64() * c.max_trials as f64,
                Step::ProbeBaseline { window, .. } => crate::workload::infer_cpu::baseline_time(&window).as_secs_f64(),
                // mixed: about 2 s of ramp-up, then the run.
                Step::Goose { duration, .. } => 2.0 + duration.as_secs_f64(),
            })
            .sum();
        // 10 s per target for start-ups (one per workload), verification and shutdowns
        // (measured: a quick run of the four Rust targets with every workload took 281 s,
        // about 5 s per target above the windows).
        let total = 4.0 * (per_target + 10.0);
        assert!(total < 300.0, "quick would take {total} s");
    }
}
