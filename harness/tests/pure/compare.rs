//! `harness compare` through the real binary, on the per-round values of the committed
//! 5-round example run: identical runs pass, an injected 15% throughput regression fails
//! with 1, and unusable input (schema mismatch, a target on one side only,
//! a bad threshold) fails with 2 and says why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("mlapi-compare-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    /// Writes `results` as `<name>/results.json` and returns that run dir.
    fn run(&self, name: &str, results: &Value) -> PathBuf {
        let d = self.0.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("results.json"), serde_json::to_vec(results).unwrap()).unwrap();
        d
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn example() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example/results.json");
    let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    assert!(v["profile"]["repeats"].as_u64() >= Some(5), "the gate tests need a run of at least 5 rounds");
    v
}

/// Cuts every closed-loop predict throughput of axum (summary and each repeat) by 15%.
fn slow_down_axum_predict(results: &mut Value) {
    for t in results["targets"].as_array_mut().unwrap().iter_mut().filter(|t| t["name"] == "axum") {
        for p in t["points"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .filter(|p| p["mode"] == "closed" && p["workload"] == "predict")
        {
            for k in ["median", "min", "max", "ci95_low", "ci95_high"] {
                let v = p["summary"]["throughput_rps"][k].as_f64().unwrap();
                p["summary"]["throughput_rps"][k] = (v * 0.85).into();
            }
            for r in p["repeats"].as_array_mut().unwrap() {
                let v = r["throughput_rps"].as_f64().unwrap();
                r["throughput_rps"] = (v * 0.85).into();
            }
        }
    }
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).arg("compare").arg(base).arg(new).args(extra).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn identical_runs_pass() {
    let d = Dir::new("same");
    let base = d.run("base", &example());
    let new = d.run("new", &example());
    let o = compare(&base, &new, &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("| target | point | metric | base | new | change | verdict |"), "{out}");
    assert!(out.contains("No regression") && !out.contains("**worse**"), "{out}");
    assert!(out.contains("| hyper | predict closed c=64 | req/s |"), "{out}");
}

/// Every closed-loop predict throughput (summary and each round) of one target cut by 15%.
#[test]
fn an_injected_15_percent_regression_fails() {
    let d = Dir::new("regress");
    let base = d.run("base", &example());
    let mut slower = example();
    slow_down_axum_predict(&mut slower);
    let new = d.run("new", &slower);
    let o = compare(&base, &new, &["--threshold", "10%"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let worse: Vec<&str> = out.lines().filter(|l| l.contains("**worse**")).collect();
    assert_eq!(worse.len(), 1, "{out}");
    assert!(
        worse[0].starts_with("| axum | predict closed c=64 | req/s |") && worse[0].contains("-15.0%"),
        "{}",
        worse[0]
    );
    assert!(out.contains("**Regression**: 1 worse"), "{out}");

    // The same change under a 20% threshold is not a regression.
    assert_eq!(compare(&base, &new, &["--threshold", "20%"]).status.code(), Some(0));
}

#[test]
fn a_schema_mismatch_is_unusable_input() {
    let d = Dir::new("schema");
    let base = d.run("base", &example());
    let mut future = example();
    future["schema_version"] = 2.into();
    let new = d.run("new", &future);
    let o = compare(&base, &new, &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("schema_version 2") && err.contains("reads version 1"), "{err}");
    assert!(out.is_empty(), "no table for unusable input: {out}");
}

#[test]
fn a_target_on_one_side_only_is_unusable_input() {
    let d = Dir::new("missing");
    let base = d.run("base", &example());
    let mut fewer = example();
    fewer["targets"].as_array_mut().unwrap().retain(|t| t["name"] != "poem");
    let new = d.run("new", &fewer);
    let o = compare(&base, &new, &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("target `poem`") && err.contains("but not in"), "{err}");
}

#[test]
fn bad_arguments_are_unusable_input() {
    let d = Dir::new("args");
    let base = d.run("base", &example());
    let o = compare(&base, &base, &["--threshold", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    let o = compare(&base, &d.0.join("absent"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("cannot read"));
}

/// The same 15% regression between runs of different machines is shown but does not fail
/// the gate: the machine, not the code, may be what changed.
#[test]
fn a_regression_across_machines_is_shown_but_not_gated() {
    let d = Dir::new("machines");
    let base = d.run("base", &example());
    let mut other = example();
    other["environment"]["cpu_model"] = "Some Other CPU".into();
    slow_down_axum_predict(&mut other);
    let new = d.run("new", &other);
    let o = compare(&base, &new, &["--threshold", "10%"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("**worse**") && out.contains("machines differ") && out.contains("Not gated"), "{out}");
}

#[test]
fn an_interrupted_run_is_not_gated_and_the_reason_is_given() {
    let d = Dir::new("interrupted");
    let base = d.run("base", &example());
    let mut cut = example();
    // As the harness leaves a run Ctrl-C ended during hyper's predict point.
    let record = serde_json::json!({
        "at": "2026-12-01T20:00:00Z", "target": "hyper", "during": "measuring",
        "point": "predict closed c=64", "repeat": 1, "repeats": 2, "recorded_by": "harness"
    });
    cut["interrupted"] = record.clone();
    cut["finished_at"] = Value::Null;
    for t in cut["targets"].as_array_mut().unwrap().iter_mut().filter(|t| t["name"] == "hyper") {
        t["status"] = "interrupted".into();
        t["interrupted"] = record.clone();
    }
    let new = d.run("new", &cut);
    for (a, b) in [(&base, &new), (&new, &base)] {
        let o = compare(a, b, &[]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
        assert!(err.contains("not gated") && err.contains("was interrupted"), "{err}");
        assert!(err.contains("hyper: measuring predict closed c=64, repeat 1 of 2"), "{err}");
        assert!(err.contains(&new.display().to_string()), "names the interrupted run: {err}");
    }
}
