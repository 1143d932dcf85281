//! The Python targets' environment: one virtual environment, `frameworks/python/.venv`
//! (git-ignored), built from the pinned `frameworks/python/requirements.txt` the first time a
//! Python target is needed and reused after that. A stamp inside the venv records the
//! interpreter version and the requirements it was built from; when either changes, the venv
//! is rebuilt. Building it is the Python targets' "build" step (`target::build`).
//!
//! Python targets need `python3` >= 3.10 on PATH. `--framework all` leaves them out, with one
//! line saying why, when it is missing; naming one explicitly fails with the same reason.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::manifest::Manifest;

/// The `language` of Python manifests.
pub const LANGUAGE: &str = "python";
/// The pinned requirements, relative to the workspace root.
pub const REQUIREMENTS: &str = "frameworks/python/requirements.txt";
/// The virtual environment, relative to the workspace root.
pub const VENV: &str = "frameworks/python/.venv";
/// Oldest Python the targets support (Django 5.2 and the type syntax they use).
pub const MIN_VERSION: (u32, u32) = (3, 10);
/// The interpreter the venv is made with.
pub const INTERPRETER: &str = "python3";
/// Inside the venv: what it was built from.
const STAMP: &str = "mlapi-bench.stamp";
/// Inside the venv: the output of `venv` and `pip install`.
const INSTALL_LOG: &str = "mlapi-bench-install.log";

#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error(
        "Python targets need {INTERPRETER} >= {}.{} on PATH, but {found}; install Python 3.10 or newer \
         (with its venv module, e.g. `apt-get install python3 python3-venv`) to enable them",
        MIN_VERSION.0,
        MIN_VERSION.1
    )]
    Unavailable { found: String },
    #[error("cannot create the Python environment {venv}: `{step}` failed ({status}); see {log}")]
    Install { venv: PathBuf, step: String, status: String, log: PathBuf },
    #[error("cannot prepare the Python environment {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PythonError + '_ {
    move |source| PythonError::Io { path: path.to_path_buf(), source }
}

/// `python3 --version`, if it runs: (major, minor, patch).
pub fn interpreter_version() -> Result<(u32, u32, u32), PythonError> {
    let out =
        Command::new(INTERPRETER).arg("--version").stdin(Stdio::null()).output().map_err(|e| {
            PythonError::Unavailable { found: format!("`{INTERPRETER} --version` could not run ({e})") }
        })?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).into_owned();
    parse_version(&text).ok_or_else(|| PythonError::Unavailable {
        found: format!("`{INTERPRETER} --version` printed {:?}", text.trim()),
    })
}

/// `Python 3.11.7` -> (3, 11, 7).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.trim().strip_prefix("Python ")?;
    let mut parts = v.split(['.', '+', 'a', 'b', 'r']).map(|p| p.parse::<u32>());
    Some((parts.next()?.ok()?, parts.next()?.ok()?, parts.next().and_then(Result::ok).unwrap_or(0)))
}

/// The interpreter's version when it is recent enough for the Python targets.
pub fn available() -> Result<(u32, u32, u32), PythonError> {
    let v = interpreter_version()?;
    if (v.0, v.1) < MIN_VERSION {
        return Err(PythonError::Unavailable { found: format!("it is {}.{}.{}", v.0, v.1, v.2) });
    }
    Ok(v)
}

pub fn is_python(m: &Manifest) -> bool {
    m.language == LANGUAGE
}

/// For `--framework all`: the manifests to run. Python targets stay in when Python is
/// available; otherwise they are dropped and `note` gets one line saying why and how to
/// enable them.
pub fn filter_all(manifests: Vec<Manifest>, note: &mut dyn FnMut(String)) -> Vec<Manifest> {
    if !manifests.iter().any(is_python) {
        return manifests;
    }
    match available() {
        Ok(_) => manifests,
        Err(why) => {
            let skipped: Vec<&str> = manifests.iter().filter(|m| is_python(m)).map(|m| m.name.as_str()).collect();
            note(format!("harness: skipping the Python targets ({}): {why}", skipped.join(", ")));
            manifests.into_iter().filter(|m| !is_python(m)).collect()
        }
    }
}

/// The venv's directory.
pub fn venv_path(root: &Path) -> PathBuf {
    root.join(VENV)
}

/// What the venv must have been built from: the interpreter's version and the exact text of
/// the requirements file (a copy compares exactly, where a hash would need a hashing crate).
fn expected_stamp(root: &Path, version: (u32, u32, u32)) -> Result<String, PythonError> {
    let req = root.join(REQUIREMENTS);
    let text = std::fs::read_to_string(&req).map_err(io_err(&req))?;
    Ok(format!("python {}.{}.{}\n{text}", version.0, version.1, version.2))
}

/// Makes sure the venv exists and matches the requirements, building it if not (a progress
/// line on stderr when `progress`). Concurrent callers (a test and a run) serialise on a
/// lock file; the second finds the venv ready. Returns the venv's path.
pub fn ensure_venv(root: &Path, progress: bool) -> Result<PathBuf, PythonError> {
    let version = available()?;
    let venv = venv_path(root);
    let want = expected_stamp(root, version)?;
    let lock_path = root.join("frameworks/python/.venv.lock");
    let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
    lock.lock().map_err(io_err(&lock_path))?;
    let stamp_path = venv.join(STAMP);
    if venv.join("bin/python").is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == want) {
        return Ok(venv);
    }
    let started = Instant::now();
    if progress {
        crate::errln!(
            "python: creating {VENV} from {REQUIREMENTS} (Python {}.{}.{}; about 590 MB from PyPI, 34 s here)",
            version.0,
            version.1,
            version.2
        );
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(io_err(&venv))?;
    }
    // The log lives beside the venv while it is being made, inside it afterwards.
    let log_path = root.join("frameworks/python/.venv-install.log");
    let log = File::create(&log_path).map_err(io_err(&log_path))?;
    let run = |step: &str, cmd: &mut Command| -> Result<(), PythonError> {
        let install_err = |status: String| PythonError::Install {
            venv: venv.clone(),
            step: step.to_owned(),
            status,
            log: log_path.clone(),
        };
        let out = log.try_clone().map_err(io_err(&log_path))?;
        let err = log.try_clone().map_err(io_err(&log_path))?;
        let status = cmd
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| install_err(e.to_string()))?;
        if status.success() { Ok(()) } else { Err(install_err(status.to_string())) }
    };
    run(&format!("{INTERPRETER} -m venv {VENV}"), Command::new(INTERPRETER).args(["-m", "venv", VENV]))?;
    let pip = format!("{VENV}/bin/python -m pip install -r {REQUIREMENTS}");
    run(
        &pip,
        Command::new(venv.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "-r",
            REQUIREMENTS,
        ]),
    )?;
    let _ = std::fs::rename(&log_path, venv.join(INSTALL_LOG));
    std::fs::write(&stamp_path, &want).map_err(io_err(&stamp_path))?;
    if progress {
        crate::errln!(
            "python: {VENV} ready in {:.0} s ({} distributions, {:.0} MB)",
            started.elapsed().as_secs_f64(),
            installed_distributions(root).unwrap_or(0),
            venv_size_bytes(root).unwrap_or(0) as f64 / 1e6
        );
    }
    Ok(venv)
}

/// The script that computes a closure, relative to the workspace root.
pub const CLOSURE_SCRIPT: &str = "scripts/dependency_closure.py";

/// One distribution of a closure.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    pub bytes: u64,
}

/// A target's own dependency closure in the venv: its top-level requirements and everything
/// they pull in (markers and extras evaluated as pip does), with the bytes each installed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Closure {
    pub distributions: Vec<Distribution>,
    pub bytes: u64,
}

/// The closure of `requires` in the venv, by [`CLOSURE_SCRIPT`] run with the venv's
/// interpreter (importlib.metadata; `packaging` for requirement markers). An error when
/// `requires` is empty (every Python manifest lists its `python_requires`), when the venv is
/// missing, or when a requirement is not installed.
pub fn dependency_closure(root: &Path, requires: &[String]) -> Result<Closure, String> {
    if requires.is_empty() {
        return Err("the manifest lists no python_requires".into());
    }
    let python = venv_path(root).join("bin/python");
    let out = Command::new(&python)
        .arg(root.join(CLOSURE_SCRIPT))
        .args(requires)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} could not run: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{CLOSURE_SCRIPT} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{CLOSURE_SCRIPT} printed no closure: {e}"))
}

/// Bytes of all regular files under the venv (symlinks not followed), for cost of
/// ownership. `None` when there is no venv.
pub fn venv_size_bytes(root: &Path) -> Option<u64> {
    fn walk(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum()
    }
    let venv = venv_path(root);
    venv.is_dir().then(|| walk(&venv))
}

/// Installed distributions in the venv (its `*.dist-info` directories: every pinned package
/// plus what `venv` seeds, pip and, before Python 3.12, setuptools), for cost of ownership. `None` when there is no venv.
pub fn installed_distributions(root: &Path) -> Option<usize> {
    let lib = venv_path(root).join("lib");
    let site = std::fs::read_dir(&lib).ok()?.flatten().map(|e| e.path().join("site-packages")).find(|p| p.is_dir())?;
    let n = std::fs::read_dir(site)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dist-info"))
        .count();
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("Python 3.11.7\n"), Some((3, 11, 7)));
        assert_eq!(parse_version("Python 3.13.0rc1"), Some((3, 13, 0)));
        assert_eq!(parse_version("Python 3.12"), Some((3, 12, 0)));
        assert_eq!(parse_version("bash: python3: not found"), None);
    }

    #[test]
    fn every_python_manifest_runs_from_the_venv_on_its_port_with_its_workers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let all = crate::manifest::discover(root).unwrap();
        let py: Vec<_> = all.iter().filter(|m| is_python(m)).collect();
        let names: Vec<_> = py.iter().map(|m| m.name.as_str()).collect();
        assert!(!names.is_empty(), "no Python manifest found");
        assert_eq!(py.len(), crate::manifest::select(&all, "python").unwrap().len(), "{names:?}");
        for m in py {
            assert!(m.start.starts_with("env PYTHONPATH=frameworks/python/common"), "{}", m.name);
            // The program is the first word after `env` that is not a VAR=value.
            let program = m.start.split_whitespace().skip(1).find(|w| !w.contains('=')).unwrap();
            assert!(program.starts_with(&format!("{VENV}/bin/")), "{}: runs {program}", m.name);
            assert!(m.start.contains("{workers}") && m.start.contains("{port}"), "{}", m.name);
            assert!(m.start.to_lowercase().contains("warning"), "{}: servers log at warning", m.name);
            assert!(!m.python_requires.is_empty(), "{}: lists no python_requires", m.name);
            let pinned = std::fs::read_to_string(root.join(REQUIREMENTS)).unwrap().to_lowercase();
            for r in &m.python_requires {
                let name = r.split('[').next().unwrap().to_lowercase();
                assert!(
                    pinned.contains(&format!("\n{name}==")) || pinned.contains(&format!("\n{name}[")),
                    "{}: {r} is not pinned",
                    m.name
                );
            }
        }
    }

    /// Ray Serve queues a request in its router once a replica holds `max_ongoing_requests`
    /// (default 5): the manifest sets it to at least the largest in-flight level any
    /// profile gives a point, so the cap never binds below the load the others get.
    #[test]
    fn ray_serves_cap_is_above_every_profiles_in_flight_levels() {
        use crate::workload::{PlannedMode, Profile, ProfileName, Step};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let m = crate::manifest::Manifest::load(&root.join("frameworks/python/ray-serve/framework.toml")).unwrap();
        let cap: usize =
            m.start.split("--max-ongoing-requests ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        for name in [ProfileName::Quick, ProfileName::Standard, ProfileName::Full] {
            let p = Profile::get(name);
            let largest = crate::results::Workload::ALL
                .iter()
                .flat_map(|&w| crate::plan::workload_plan(w, &p).steps)
                .filter_map(|s| match s {
                    Step::Point(pt) => Some(match pt.mode {
                        PlannedMode::Closed { connections } => connections,
                        PlannedMode::Open { max_connections, .. } => max_connections,
                    }),
                    Step::Goose { users, .. } => Some(users),
                    _ => None,
                })
                .max()
                .unwrap();
            assert!(cap >= largest, "{name:?}: a point holds up to {largest} in flight, Ray's cap is {cap}");
        }
    }
}
