//! The Python targets (frameworks/python/*) pass the whole conformance corpus over HTTP,
//! judged by the same checker the harness uses, after the harness has built their pinned
//! venv (the first run installs it from PyPI; later runs reuse it). Each target is started
//! from its manifest exactly as `harness verify` starts it. Stopping a multi-process target
//! leaves none of its processes behind.
//!
//! Needs python3 >= 3.10 with its venv module, and PyPI the first time.

use crate::common;
use std::time::Duration;

use harness::manifest::{self, Manifest};
use harness::{python, sampler, target};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python_manifests() -> Vec<Manifest> {
    manifest::discover(&root()).unwrap().into_iter().filter(python::is_python).collect()
}

fn logs(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mlapi-python-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_python_target_passes_the_full_corpus_and_leaves_no_process() {
    let _exclusive = common::exclusive();
    let root = root();
    python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let manifests = python_manifests();
    let names: Vec<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    // Every manifest that says `language = "python"`, whatever they are.
    assert!(!names.is_empty(), "no Python manifest found");

    let cases = workloads::conformance::corpus();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cpus = target::affinity(0);
    let mut failures = Vec::new();
    for m in &manifests {
        let dir = logs(&m.name);
        // Two workers: the corpus then also runs through uvicorn's and gunicorn's process
        // managers, and stopping must reach every worker.
        let mut running = target::spawn(m, &root, 2, &cpus, &cpus, &dir, target::READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        let report = rt.block_on(workloads::conformance::http::run_corpus(&running.base_url, &cases)).unwrap();
        let tree = sampler::process_tree(running.pid);
        assert!(tree.len() >= 3, "{}: expected a master and 2 workers, found processes {tree:?}", m.name);
        let ended = running.stop();
        std::thread::sleep(Duration::from_millis(200));
        let alive: Vec<i32> = tree.iter().copied().filter(|&p| is_running(p)).collect();
        assert!(alive.is_empty(), "{}: processes {alive:?} survived stop ({ended})", m.name);
        if !report.failed.is_empty() {
            failures.push(format!(
                "{}: {} of {} cases failed:\n{}",
                m.name,
                report.failed.len(),
                cases.len(),
                report.failures()
            ));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Alive and not a zombie.
fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn cost_of_ownership_figures_describe_the_venv() {
    let _exclusive = common::exclusive();
    let root = root();
    python::ensure_venv(&root, true).unwrap_or_else(|e| panic!("{e}"));
    let dists = python::installed_distributions(&root).unwrap();
    // Every pinned requirement, plus what `venv` seeds: pip, and setuptools before Python 3.12.
    let pinned =
        std::fs::read_to_string(root.join(python::REQUIREMENTS)).unwrap().lines().filter(|l| l.contains("==")).count();
    assert!(
        (pinned + 1..=pinned + 2).contains(&dists),
        "{dists} installed distributions for {pinned} pinned lines in {}",
        python::REQUIREMENTS
    );
    let size = python::venv_size_bytes(&root).unwrap();
    assert!(size > 50_000_000, "venv of {size} bytes is implausibly small");
}
