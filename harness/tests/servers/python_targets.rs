//! The Python targets' venv: what the harness records about it as their cost of ownership.
//! (That each Python target meets the contract is checked with every other target's, in
//! `contract.rs`.)
//!
//! Needs python3 >= 3.10 with its venv module, and PyPI the first time.

use crate::common;

use harness::python;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
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
