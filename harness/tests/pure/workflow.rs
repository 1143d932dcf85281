//! The CI workflow is valid YAML with the shape the project relies on: it runs on push and
//! pull request, measures the Rust targets with the quick profile, uploads the run dir,
//! publishes report.md in the job summary and gates on `harness ab` (the cross-machine
//! `harness compare` is shown, not gated).

use yaml_rust2::{Yaml, YamlLoader};

fn workflow() -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/benchmark.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

#[test]
fn benchmark_workflow_is_valid_and_complete() {
    let w = workflow();
    assert!(w["name"].as_str().is_some());
    let on = &w["on"];
    assert!(!on["push"].is_badvalue() && !on["pull_request"].is_badvalue(), "runs on push and pull_request");
    let jobs = w["jobs"].as_hash().expect("jobs");
    assert!(!jobs.is_empty());
    for (_, job) in jobs {
        assert!(job["runs-on"].as_str().is_some(), "each job names its runner");
        let steps = job["steps"].as_vec().expect("steps");
        for s in steps {
            assert!(
                s["uses"].as_str().is_some() || s["run"].as_str().is_some(),
                "a step must use or run something: {s:?}"
            );
        }
        let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
        let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
        assert!(runs.iter().any(|r| r.contains("--profile quick") && r.contains("--framework rust")));
        assert!(uses.iter().any(|u| u.starts_with("actions/upload-artifact@")));
        assert!(runs.iter().any(|r| r.contains("report.md") && r.contains("$GITHUB_STEP_SUMMARY")));
        // The gate is `harness ab` on the same runner; the cross-machine compare is shown only.
        assert!(runs.iter().any(|r| r.contains("harness -- ab --base") && r.contains("exit $status")));
        assert!(runs.iter().any(|r| r.contains("harness -- compare") && !r.contains("exit $status")));
    }
}
