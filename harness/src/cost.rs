//! Startup and cost of ownership per target (docs/metrics.md, "Cost of ownership"): what an
//! architect weighs beside speed. Binary size, dependency count and lines of code are read
//! off the workspace; build time and startup time are measured.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use crate::manifest::Manifest;

/// The cargo package a Rust manifest builds: the `-p <name>` of its build command.
pub fn cargo_package(m: &Manifest) -> Option<String> {
    let mut words = m.build.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-p" || w == "--package" {
            return words.next().map(str::to_owned);
        }
        if let Some(p) = w.strip_prefix("--package=") {
            return Some(p.to_owned());
        }
    }
    None
}

/// Size of the file the start command executes, when it is a path inside the workspace.
pub fn binary_bytes(m: &Manifest, root: &Path) -> Option<u64> {
    let exe = m.start.split_whitespace().next()?;
    std::fs::metadata(root.join(exe)).ok().filter(|md| md.is_file()).map(|md| md.len())
}

/// Unique crates (name and version) in the package's normal and build dependency graph,
/// excluding the package itself and the workspace's own crates (the shared contract code
/// every target links alike).
pub fn crate_count(root: &Path, package: &str) -> anyhow::Result<usize> {
    let out = Command::new("cargo")
        .args(["tree", "--offline", "--locked", "-p", package, "-e", "normal,build", "--prefix", "none"])
        .current_dir(root)
        .output()
        .context("cannot run `cargo tree`")?;
    anyhow::ensure!(
        out.status.success(),
        "`cargo tree -p {package}` failed: {}",
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
    );
    Ok(unique_crates(&String::from_utf8_lossy(&out.stdout)))
}

/// Counts `name vX.Y.Z` lines of `cargo tree --prefix none`, once each, skipping the root
/// line and path (workspace) crates.
fn unique_crates(tree: &str) -> usize {
    let set: BTreeSet<(&str, &str)> = tree
        .lines()
        .skip(1)
        .filter(|l| !l.contains(" (/"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?))
        })
        .collect();
    set.len()
}

/// Non-blank, non-comment lines of the implementation under `dir`: `.rs` files for Rust and
/// `.py` files for Python, excluding `tests/` directories. A comment line is one whose first
/// non-blank characters are `//` (Rust) or `#` (Python); Python docstrings count as code.
pub fn lines_of_code(dir: &Path, language: &str) -> u64 {
    let (ext, comment) = if language == "python" { ("py", "#") } else { ("rs", "//") };
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "tests" | "target" | "__pycache__" | ".venv") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == ext) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                total += count_code_lines(&text, comment);
            }
        }
    }
    total
}

fn count_code_lines(text: &str, comment: &str) -> u64 {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(comment)).count() as u64
}

/// Seconds of a release build of the target's own package, with its dependencies already
/// compiled: `cargo clean --release -p <package>`, then the manifest's build command, timed.
/// Reported with kind `incremental`.
pub fn own_package_build(m: &Manifest, root: &Path, package: &str, log: &Path) -> anyhow::Result<f64> {
    let clean = Command::new("cargo")
        .args(["clean", "--release", "-p", package])
        .current_dir(root)
        .output()
        .context("cannot run `cargo clean`")?;
    anyhow::ensure!(clean.status.success(), "`cargo clean --release -p {package}` failed");
    let t = Instant::now();
    crate::target::build(m, root, log)?;
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_code_not_comments_or_blanks() {
        let rs = "//! doc\nfn main() {\n\n    // note\n    let x = 1; // trailing\n}\n";
        assert_eq!(count_code_lines(rs, "//"), 3);
        let py = "# c\nimport os\n\ndef f():\n    return 1  # x\n";
        assert_eq!(count_code_lines(py, "#"), 3);
    }

    #[test]
    fn unique_crates_skips_root_paths_and_repeats() {
        let tree = "fw-x v0.1.0 (/w/frameworks/x)\naxum v0.8.9\ntokio v1.54.1\nworkloads v0.1.0 (/w/workloads)\ntokio v1.54.1\nbytes v1.12.1\n";
        assert_eq!(unique_crates(tree), 3);
    }

    #[test]
    fn package_from_build_command() {
        let root = crate::cli::workspace_root();
        let mut m = crate::manifest::discover(&root).unwrap().into_iter().find(|m| m.name == "hyper").unwrap();
        assert_eq!(cargo_package(&m).as_deref(), Some("fw-hyper"));
        m.build = "cargo build --release --package=fw-x".into();
        assert_eq!(cargo_package(&m).as_deref(), Some("fw-x"));
        m.build = "true".into();
        assert_eq!(cargo_package(&m), None);
    }

    /// The workspace's own targets: every Rust manifest names a package that `cargo tree`
    /// knows, with a plausible number of crates.
    #[test]
    fn rust_targets_have_countable_dependencies() {
        let root = crate::cli::workspace_root();
        let m = crate::manifest::discover(&root).unwrap().into_iter().find(|m| m.name == "hyper").unwrap();
        let n = crate_count(&root, &cargo_package(&m).unwrap()).unwrap();
        assert!((10..1000).contains(&n), "{n}");
        assert!(lines_of_code(&m.dir, "rust") > 50);
    }
}
