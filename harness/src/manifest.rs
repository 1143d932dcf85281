//! Target manifests (`framework.toml`): the one place that says what a target is and how to
//! build and start it. A target's name is its directory name.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid manifest: {reason}")]
    Parse { path: PathBuf, reason: TomlError },
    #[error("{path}: `name` is {name:?} but the directory is {dir:?}; a target's name is its directory name")]
    NameMismatch { path: PathBuf, name: String, dir: String },
    #[error("no target named {0:?}; `harness list` shows the targets")]
    Unknown(String),
}

/// A TOML error on one line: toml's own message spans several, with a drawing of the line.
#[derive(Debug)]
pub struct TomlError {
    pub line: Option<usize>,
    pub message: String,
}

impl TomlError {
    fn new(text: &str, e: toml::de::Error) -> Self {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        Self { line, message: e.message().split_whitespace().collect::<Vec<_>>().join(" ") }
    }
}

impl std::fmt::Display for TomlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TomlError {}

/// One `framework.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub language: String,
    pub display_name: String,
    pub framework_crate: String,
    pub framework_version: String,
    /// Shell command, run from the workspace root.
    pub build: String,
    /// Shell command with `{port}`, `{workers}` and `{upstream}` (the gateway's upstream
    /// base URL, `crate::upstream`) placeholders, run from the workspace root;
    /// also `{scratch}`, a directory the harness makes for this one start and removes once
    /// its process tree is gone (for servers that need a working directory, Ray's temp dir).
    pub start: String,
    pub readiness_path: String,
    pub server_setup: String,
    /// Python targets: the top-level distributions the target imports. Its cost of
    /// ownership counts their dependency closure in the shared venv, not the whole venv.
    #[serde(default)]
    pub python_requires: Vec<String>,
    /// The target whose app this one serves inside a larger stack (ray-serve and bentoml
    /// over fastapi): the report gives this target's paired ratio to it, per point.
    #[serde(default)]
    pub overhead_over: Option<String>,
    /// Directory holding the manifest.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The workspace its commands run from, when not the run's (`harness ab`'s base
    /// worktree).
    #[serde(skip)]
    pub root: Option<PathBuf>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.into(), source })?;
        let mut m: Manifest = toml::from_str(&text)
            .map_err(|e| ManifestError::Parse { path: path.into(), reason: TomlError::new(&text, e) })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let dir_name = dir.file_name().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
        if m.name != dir_name {
            return Err(ManifestError::NameMismatch { path: path.into(), name: m.name, dir: dir_name });
        }
        m.dir = dir.to_path_buf();
        Ok(m)
    }

    /// The start command with its placeholders filled.
    pub fn start_command(&self, port: u16, workers: usize, scratch: Option<&Path>, upstream: Option<&str>) -> String {
        let mut command = self.start.replace("{port}", &port.to_string()).replace("{workers}", &workers.to_string());
        if let Some(dir) = scratch {
            command = command.replace("{scratch}", &dir.to_string_lossy());
        }
        if let Some(url) = upstream {
            command = command.replace("{upstream}", url);
        }
        command
    }

    /// Whether it serves the gateway (`{upstream}` in `start`): each start then gets a mock
    /// model server of its own (`crate::upstream`).
    pub fn needs_upstream(&self) -> bool {
        self.start.contains("{upstream}")
    }

    /// Whether a start needs a scratch directory (`{scratch}` in `start`).
    pub fn needs_scratch(&self) -> bool {
        self.start.contains("{scratch}")
    }
}

/// Every manifest under `frameworks/` (one level, and `frameworks/python/` one level below),
/// sorted by name.
pub fn discover(root: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let mut found = Vec::new();
    for base in [root.join("frameworks"), root.join("frameworks/python")] {
        let Ok(entries) = std::fs::read_dir(&base) else { continue };
        for entry in entries.flatten() {
            let path = entry.path().join("framework.toml");
            if path.is_file() {
                found.push(Manifest::load(&path)?);
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Selectors that pick every target of one `language` (as its manifest says).
pub const LANGUAGES: [&str; 2] = ["rust", "python"];

/// `all`, a language (`rust`, `python`: every manifest of that language), or a
/// comma-separated list of names, in the order given.
pub fn select(all: &[Manifest], spec: &str) -> Result<Vec<Manifest>, ManifestError> {
    if spec == "all" {
        return Ok(all.to_vec());
    }
    if LANGUAGES.contains(&spec) {
        return Ok(all.iter().filter(|m| m.language == spec).cloned().collect());
    }
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| all.iter().find(|m| m.name == name).cloned().ok_or_else(|| ManifestError::Unknown(name.into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn discovers_every_manifest_by_directory_name() {
        let all = discover(&root()).unwrap();
        let names: Vec<_> = all.iter().map(|m| m.name.as_str()).collect();
        // Every directory holding a framework.toml, found independently of `discover`.
        let mut dirs: Vec<String> = ["frameworks", "frameworks/python"]
            .iter()
            .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap().flatten())
            .filter(|e| e.path().join("framework.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        assert_eq!(names, dirs);
        for lang in LANGUAGES {
            let picked = select(&all, lang).unwrap();
            assert!(!picked.is_empty() && picked.iter().all(|m| m.language == lang), "{lang}: {picked:?}");
        }
        assert_eq!(select(&all, "rust").unwrap().len() + select(&all, "python").unwrap().len(), all.len());
        for m in &all {
            assert!(m.start.contains("{port}") && m.start.contains("{workers}"), "{}", m.name);
            // Every target serves the gateway (docs/contract.md), so each start needs its upstream.
            assert!(m.needs_upstream(), "{}: its start command names no {{upstream}}", m.name);
            assert_eq!(m.readiness_path, "/health");
        }
    }

    #[test]
    fn select_keeps_order_and_rejects_unknown_names() {
        let all = discover(&root()).unwrap();
        let picked = select(&all, "poem,axum").unwrap();
        assert_eq!(picked.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["poem", "axum"]);
        assert!(matches!(select(&all, "nope"), Err(ManifestError::Unknown(_))));
    }
}
