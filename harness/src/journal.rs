//! The journal: a run's record as it grows. It owns the results and the output directory,
//! records each finished step (a target's entry, a verification, a point) and writes
//! results.json atomically after each, so an interrupted or crashed run keeps everything it
//! finished. Writes go through [`crate::interrupt::save`], which keeps the last record for
//! the signal watchdog.
//!
//! Points are recorded under their [`PointKey`] per target, which is what a resumed run
//! looks up to skip what is already measured. Between a point's rounds, each finished
//! round (its window's record and histograms) is appended to `rounds.jsonl` in the run
//! directory, so that `harness run --resume` keeps the rounds of a point cut mid-way.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::results::{
    Environment, ErrorCounts, Hist, Interruption, Point, PointKey, Repeat, Results, RoundOrder, TargetResult, Workload,
};

/// The file of finished rounds in a run directory.
pub const ROUNDS_FILE: &str = "rounds.jsonl";

/// One finished round of one target at one plan step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundRecord {
    pub target: String,
    pub workload: Workload,
    pub step: usize,
    /// 1-based.
    pub round: usize,
    pub data: RoundData,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundData {
    /// A measured window of a point.
    Window {
        repeat: Box<Repeat>,
        latency: Hist,
        send_lag: Hist,
        overhead: Hist,
        stream: Option<StreamHists>,
        probe: Option<ProbeHists>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat: Option<ChatHists>,
    },
    /// infer-cpu's idle probe baselines (plain, and with the CPUs kept awake).
    Baseline { plain: Hist, awake: Option<Hist> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamHists {
    pub ttft: Hist,
    pub itl: Hist,
    pub tpot: Hist,
    pub tokens: u64,
    pub streams_complete: u64,
    pub streams_incomplete: u64,
}

/// A chat window's histograms and counts (`driver::ChatRecorder`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatHists {
    pub ttft: Hist,
    pub ttft_vllm: Hist,
    pub itl: Hist,
    pub tpot: Hist,
    pub e2el: Hist,
    pub streams_complete: u64,
    pub streams_incomplete: u64,
    pub output_tokens: u64,
    pub output_chunks: u64,
    pub reasoning_chunks: u64,
    pub tokens_from_usage: u64,
    pub tokens_from_chunks: u64,
    pub good: u64,
}

impl ChatHists {
    pub fn of(c: &crate::driver::ChatRecorder) -> Self {
        ChatHists {
            ttft: Hist::of(&c.ttft_us),
            ttft_vllm: Hist::of(&c.ttft_vllm_us),
            itl: Hist::of(&c.itl_us),
            tpot: Hist::of(&c.tpot_us),
            e2el: Hist::of(&c.e2el_us),
            streams_complete: c.streams_complete,
            streams_incomplete: c.streams_incomplete,
            output_tokens: c.output_tokens,
            output_chunks: c.output_chunks,
            reasoning_chunks: c.reasoning_chunks,
            tokens_from_usage: c.tokens_from_usage,
            tokens_from_chunks: c.tokens_from_chunks,
            good: c.good,
        }
    }

    /// Adds these figures to `acc` (a point's windows merged).
    pub fn add_to(&self, acc: &mut crate::driver::ChatRecorder) {
        self.ttft.add_to(&mut acc.ttft_us);
        self.ttft_vllm.add_to(&mut acc.ttft_vllm_us);
        self.itl.add_to(&mut acc.itl_us);
        self.tpot.add_to(&mut acc.tpot_us);
        self.e2el.add_to(&mut acc.e2el_us);
        acc.streams_complete += self.streams_complete;
        acc.streams_incomplete += self.streams_incomplete;
        acc.output_tokens += self.output_tokens;
        acc.output_chunks += self.output_chunks;
        acc.reasoning_chunks += self.reasoning_chunks;
        acc.tokens_from_usage += self.tokens_from_usage;
        acc.tokens_from_chunks += self.tokens_from_chunks;
        acc.good += self.good;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeHists {
    pub latency: Hist,
    pub responses: u64,
    pub errors: ErrorCounts,
}

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    results: Results,
    rounds: Vec<RoundRecord>,
}

impl Journal {
    /// A new run in `dir` (created if needed), written at once.
    pub fn begin(dir: &Path, profile: serde_json::Value, environment: Environment) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let j =
            Journal { dir: dir.to_path_buf(), results: Results::begin(dir, profile, environment), rounds: Vec::new() };
        let _ = std::fs::remove_file(dir.join(ROUNDS_FILE));
        j.save()?;
        Ok(j)
    }

    /// An earlier run's journal in `dir`, to continue it (`harness run --resume`): its
    /// results.json and its finished rounds. A last line cut short by a crash is ignored.
    pub fn reopen(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("results.json");
        let (results, _) =
            crate::results::load(&path).with_context(|| format!("cannot resume from {}", path.display()))?;
        let rounds = match std::fs::read_to_string(dir.join(ROUNDS_FILE)) {
            Ok(text) => text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.join(ROUNDS_FILE).display())),
        };
        Ok(Journal { dir: dir.to_path_buf(), results, rounds })
    }

    pub fn results_mut(&mut self) -> &mut Results {
        &mut self.results
    }

    /// A finished round, appended to `rounds.jsonl` (and flushed) before this returns.
    pub fn record_round(&mut self, r: RoundRecord) -> anyhow::Result<()> {
        let path = self.dir.join(ROUNDS_FILE);
        let mut line = serde_json::to_vec(&r)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(&line).and_then(|()| f.sync_data()).with_context(|| format!("cannot write {}", path.display()))?;
        self.rounds.push(r);
        Ok(())
    }

    /// The recorded round of `target` at `step` of `workload`, if it finished.
    pub fn round(&self, target: &str, workload: Workload, step: usize, round: usize) -> Option<&RoundRecord> {
        self.rounds
            .iter()
            .rev()
            .find(|r| r.target == target && r.workload == workload && r.step == step && r.round == round)
    }

    /// A round's order, recorded once (a resumed run re-derives the same order).
    pub fn record_order(&mut self, o: RoundOrder) -> anyhow::Result<()> {
        let order = self.results.order.get_or_insert_with(Default::default);
        if let Some(old) =
            order.rounds.iter_mut().find(|r| (r.workload, r.step, r.round) == (o.workload, o.step, o.round))
        {
            // A resumed run runs the targets left: the order it ran them in is kept beside.
            for t in o.targets {
                if !old.targets.contains(&t) {
                    old.targets.push(t);
                }
            }
        } else {
            order.rounds.push(o);
        }
        self.save()
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
