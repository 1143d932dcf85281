//! The journal: a run's record as it grows. It owns the results and the output directory,
//! records each finished step (a target's entry, a verification, a point) and writes
//! results.json atomically after each, so an interrupted or crashed run keeps everything it
//! finished. Writes go through [`crate::interrupt::save`], which keeps the last record for
//! the signal watchdog.
//!
//! Points are recorded under their [`PointKey`] per target, which is what a resumed run
//! will look up to skip what is already measured.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::{Environment, Interruption, Point, PointKey, Results, TargetResult};

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    results: Results,
}

impl Journal {
    /// A new run in `dir` (created if needed), written at once.
    pub fn begin(dir: &Path, profile: serde_json::Value, environment: Environment) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let j = Journal { dir: dir.to_path_buf(), results: Results::begin(dir, profile, environment) };
        j.save()?;
        Ok(j)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn results(&self) -> &Results {
        &self.results
    }

    /// Writes results.json as it stands.
    pub fn save(&self) -> anyhow::Result<()> {
        crate::interrupt::save(&self.dir, &self.results)
            .with_context(|| format!("cannot write {}", self.dir.join("results.json").display()))
    }

    /// A new target entry, recorded; returns its index.
    pub fn add_target(&mut self, t: TargetResult) -> anyhow::Result<usize> {
        self.results.targets.push(t);
        self.save()?;
        Ok(self.results.targets.len() - 1)
    }

    pub fn target(&self, idx: usize) -> &TargetResult {
        &self.results.targets[idx]
    }

    /// A target's entry to change; [`Journal::save`] records the change.
    pub fn target_mut(&mut self, idx: usize) -> &mut TargetResult {
        &mut self.results.targets[idx]
    }

    /// A measured point of target `idx`, recorded.
    pub fn record_point(&mut self, idx: usize, point: Point) -> anyhow::Result<()> {
        self.results.targets[idx].points.push(point);
        self.save()
    }

    /// Whether target `name` has a recorded point under `key`.
    pub fn has_point(&self, name: &str, key: &PointKey) -> bool {
        self.results.targets.iter().filter(|t| t.name == name).any(|t| t.points.iter().any(|p| PointKey::of(p) == *key))
    }

    /// The run ended normally.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.results.finished_at = Some(crate::results::now_rfc3339());
        self.save()
    }

    /// A signal ended the run: recorded on the run and on the target it was working on.
    pub fn interrupted(&mut self, i: &Interruption) -> anyhow::Result<()> {
        self.results.mark_interrupted(i);
        self.save()
    }

    pub fn into_results(self) -> Results {
        self.results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_on_disk_when_it_returns() {
        let dir = std::env::temp_dir().join(format!("mlapi-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let on_disk =
            || -> Results { serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap() };
        let mut j = Journal::begin(&dir, serde_json::json!({"name": "quick"}), Environment::default()).unwrap();
        assert!(on_disk().targets.is_empty() && on_disk().finished_at.is_none());
        let idx = j.add_target(TargetResult { name: "hyper".into(), ..Default::default() }).unwrap();
        assert_eq!(on_disk().targets[0].name, "hyper");
        let mode = crate::driver::Mode::Closed { connections: 64 };
        let point =
            crate::analysis::point(crate::results::Workload::Health, mode, None, Vec::new(), Default::default());
        let key = PointKey::of(&point);
        assert!(!j.has_point("hyper", &key));
        j.record_point(idx, point).unwrap();
        assert!(j.has_point("hyper", &key) && !j.has_point("axum", &key));
        assert_eq!(on_disk().targets[0].points.len(), 1);
        j.finish().unwrap();
        assert!(on_disk().finished_at.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
