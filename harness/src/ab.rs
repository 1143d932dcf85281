//! `harness ab --base <rev>`: an A/B gate on one machine. The base revision is checked out
//! in a git worktree (`target/ab/<rev>`) and its targets built there; the working tree is the
//! change. Both run in one interleaved run (`<name>@base` and `<name>@change` side by side,
//! every round of a point on both before the next), then the run is split into a base and a
//! change results.json and compared with `harness compare`'s rule (docs/metrics.md,
//! "Comparing runs"). Exit status: 0 no regression, 1 a regression, 2 unusable input.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::plan::{RunConfig, TargetSource};
use crate::results::Results;

/// The suffixes that tell the two sides apart in the joint run.
pub const BASE: &str = "@base";
pub const CHANGE: &str = "@change";

/// A worktree of `rev` under `root/target/ab/`, created or moved to `rev`; returns its path.
pub fn worktree(root: &Path, rev: &str) -> anyhow::Result<PathBuf> {
    let git = |dir: &Path, args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("git").args(args).current_dir(dir).output().context("cannot run git")?;
        anyhow::ensure!(
            out.status.success(),
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(root, &["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
        .with_context(|| format!("--base {rev:?} is not a revision of this repository"))?;
    let dir = root.join("target/ab").join(&commit[..12]);
    if dir.join(".git").exists() {
        git(&dir, &["checkout", "--quiet", "--detach", &commit])?;
    } else {
        std::fs::create_dir_all(dir.parent().expect("a parent"))?;
        let d = dir.to_string_lossy().into_owned();
        git(root, &["worktree", "add", "--quiet", "--force", "--detach", &d, &commit])?;
    }
    Ok(dir)
}

/// The joint configuration: every manifest target of `change` twice, the base's from the
/// worktree `base_root` (its commands run there), the change's from the working tree.
pub fn joint_config(mut change: RunConfig, base_root: &Path) -> anyhow::Result<RunConfig> {
    let base_manifests = crate::manifest::discover(base_root)?;
    let mut targets = Vec::new();
    for source in &change.targets {
        let TargetSource::Manifest(m) = source else {
            anyhow::bail!("harness ab measures manifest targets, not --url");
        };
        let mut base = base_manifests
            .iter()
            .find(|b| b.name == m.name)
            .cloned()
            .with_context(|| format!("{} is not a target at the base revision", m.name))?;
        base.root = Some(base_root.to_path_buf());
        base.name = format!("{}{BASE}", m.name);
        let mut new = m.clone();
        new.name = format!("{}{CHANGE}", m.name);
        targets.push(TargetSource::Manifest(base));
        targets.push(TargetSource::Manifest(new));
    }
    change.targets = targets;
    Ok(change)
}

/// One side of the joint run, its targets under their own names.
pub fn side(joint: &Results, suffix: &str) -> Results {
    let mut r = joint.clone();
    r.targets = joint
        .targets
        .iter()
        .filter_map(|t| {
            let name = t.name.strip_suffix(suffix)?;
            let mut t = t.clone();
            t.name = name.to_owned();
            Some(t)
        })
        .collect();
    r.order = None;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_keeps_its_own_targets_under_their_names() {
        let t = |name: &str| crate::results::TargetResult { name: name.into(), ..Default::default() };
        let joint = Results {
            targets: vec![t("hyper@base"), t("hyper@change"), t("axum@base"), t("axum@change")],
            ..Results::begin(Path::new("/tmp/ab"), serde_json::json!({}), Default::default())
        };
        let names = |r: &Results| r.targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&side(&joint, BASE)), ["hyper", "axum"]);
        assert_eq!(names(&side(&joint, CHANGE)), ["hyper", "axum"]);
    }
}
